//! Browser tests of the chat runtime (`peerlab::chat`) in headless Chromium: two chat sessions in one page,
//! each with its own relay connection to a real relay (`PEERLAB_TEST_RELAY_WS`, default
//! `ws://127.0.0.1:18080/ws`, started by `scripts/test.sh`) and real peer connections over loopback ICE.
//!
//! Each side runs inside its own reactive `Owner`, as a page would; cleaning an owner up is a user
//! closing the tab. Every test uses a fresh random room. Waits are bounded polls.

#![cfg(target_arch = "wasm32")]

use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use peerlab::chat::{
    use_chat, ChatSession, Chats, Direction, Item, MessageStatus, Transfer, TransferState,
};
use peerlab::config::Config;
use peerlab::context::AppConfig;
use peerlab::error::describe_js;
use peerlab::signaling::{use_relay_room, RelayRoom};
use peerlab_protocol::PeerId;
use sha2::{Digest, Sha256};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

const RELAY: &str = match option_env!("PEERLAB_TEST_RELAY_WS") {
    Some(url) => url,
    None => "ws://127.0.0.1:18080/ws",
};

/// How long one expected outcome may take (connections on loopback take well under a second; a 3 MiB
/// transfer a few hundred milliseconds).
const WAIT_MS: u32 = 20_000;

type TestResult = Result<(), String>;

fn js(err: JsValue) -> String {
    describe_js(&err)
}

/// Polls `ready` every 20 ms until it holds, for at most [`WAIT_MS`].
async fn wait_for(what: &str, mut ready: impl FnMut() -> bool) -> TestResult {
    let mut waited = 0;
    while !ready() {
        if waited >= WAIT_MS {
            return Err(format!("{what}: not within {WAIT_MS} ms"));
        }
        TimeoutFuture::new(20).await;
        waited += 20;
    }
    Ok(())
}

fn random_room() -> String {
    format!("chat-test-{:x}", (js_sys::Math::random() * 1e12) as u64)
}

/// Leptos sets its task executor up when something is mounted; these tests mount nothing else, so they
/// mount an empty view into a detached element once (mounting again changes nothing).
fn start_executor() {
    let root = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.create_element("div").ok())
        .and_then(|el| el.dyn_into::<web_sys::HtmlElement>().ok());
    if let Some(root) = root {
        drop(leptos::mount::mount_to(root, || ()));
    }
}

/// One user: a relay connection and a chat runtime, owned like a page owns them.
struct Side {
    name: &'static str,
    owner: Owner,
    relay: RelayRoom,
    chat: ChatSession,
}

impl Side {
    fn join(room: &str, name: &'static str) -> Side {
        start_executor();
        let owner = Owner::new();
        let room = room.to_owned();
        let (relay, chat) = owner.with(|| {
            provide_context(AppConfig::fixed(Config {
                relay_url: Some(RELAY.to_owned()),
            }));
            let relay = use_relay_room(room, None);
            let chat = use_chat(relay);
            relay.join(name);
            (relay, chat)
        });
        Side {
            name,
            owner,
            relay,
            chat,
        }
    }

    fn id(&self) -> Option<PeerId> {
        self.relay.roster().with_untracked(|r| r.self_id.clone())
    }

    fn sees(&self, other: &PeerId) -> bool {
        self.relay
            .roster()
            .with_untracked(|r| r.members.iter().any(|m| &m.id == other))
    }

    fn chats<R>(&self, f: impl FnOnce(&Chats) -> R) -> R {
        self.chat.chats().with_untracked(f)
    }

    fn transfer(&self, peer: &PeerId, direction: Direction) -> Option<Transfer> {
        self.chats(|c| {
            c.get(peer)?
                .transfers()
                .filter(|t| t.direction == direction)
                .last()
                .cloned()
        })
    }
}

/// Two users in a fresh room who see each other.
async fn pair() -> Result<(Side, Side, PeerId, PeerId), String> {
    let room = random_room();
    let ada = Side::join(&room, "Ada");
    wait_for("Ada's welcome", || ada.id().is_some()).await?;
    let bob = Side::join(&room, "Bob");
    wait_for("Bob's welcome", || bob.id().is_some()).await?;
    let (a, b) = (ada.id().ok_or("no id")?, bob.id().ok_or("no id")?);
    wait_for("both see each other", || ada.sees(&b) && bob.sees(&a)).await?;
    Ok((ada, bob, a, b))
}

fn status_of(side: &Side, peer: &PeerId, text: &str) -> Option<MessageStatus> {
    side.chats(|c| {
        c.get(peer)?.items.iter().find_map(|i| match i {
            Item::Message(m) if m.text == text && m.direction == Direction::Out => {
                Some(m.status.clone())
            }
            _ => None,
        })
    })
}

fn received(side: &Side, peer: &PeerId) -> Vec<String> {
    side.chats(|c| {
        c.get(peer)
            .map(|conv| {
                conv.items
                    .iter()
                    .filter_map(|i| match i {
                        Item::Message(m) if m.direction == Direction::In => Some(m.text.clone()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    })
}

/// A file of `len` bytes with a repeating pattern, and its SHA-256.
fn file(name: &str, len: usize) -> Result<(web_sys::File, String), String> {
    let bytes: Vec<u8> = (0..len).map(|i| (i.wrapping_mul(31) % 251) as u8).collect();
    let digest: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(&bytes[..]));
    let options = web_sys::FilePropertyBag::new();
    options.set_type("application/octet-stream");
    let file = web_sys::File::new_with_u8_array_sequence_and_options(&parts, name, &options)
        .map_err(js)?;
    Ok((file, digest))
}

/// A large file of zeros, made in JavaScript (never copied through wasm).
fn zeros(name: &str, len: u32) -> Result<web_sys::File, String> {
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::new_with_length(len));
    web_sys::File::new_with_u8_array_sequence(&parts, name).map_err(js)
}

/// The bytes behind a `blob:` URL: their count and SHA-256.
async fn fetch_digest(url: &str) -> Result<(usize, String), String> {
    let window = web_sys::window().ok_or("no window")?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(js)?
        .dyn_into()
        .map_err(js)?;
    let buffer = JsFuture::from(response.array_buffer().map_err(js)?)
        .await
        .map_err(js)?;
    let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
    let digest = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((bytes.len(), digest))
}

fn state(side: &Side, peer: &PeerId, direction: Direction) -> Option<TransferState> {
    side.transfer(peer, direction).map(|t| t.state)
}

#[wasm_bindgen_test]
async fn text_goes_both_ways_over_one_connection_with_acknowledgements() -> TestResult {
    let (ada, bob, a, b) = pair().await?;
    // Written before any connection exists: queued, then delivered once the channel opens.
    ada.chat.open(&b);
    ada.chat.send_text(&b, "hello <b>Bob</b>");
    assert!(
        matches!(
            status_of(&ada, &b, "hello <b>Bob</b>"),
            Some(MessageStatus::Queued | MessageStatus::Sent)
        ),
        "{:?}",
        status_of(&ada, &b, "hello <b>Bob</b>")
    );
    wait_for("Ada's message delivered", || {
        status_of(&ada, &b, "hello <b>Bob</b>") == Some(MessageStatus::Delivered)
    })
    .await?;
    assert_eq!(received(&bob, &a), ["hello <b>Bob</b>"]);
    assert_eq!(
        bob.chats(|c| c.get(&a).map(|c| c.unread)),
        Some(1),
        "Bob has not looked yet"
    );

    // Bob answers over the same connection: no second peer on either side.
    bob.chat.open(&a);
    assert_eq!(bob.chats(|c| c.get(&a).map(|c| c.unread)), Some(0));
    bob.chat.send_text(&a, "hi Ada");
    wait_for("Bob's message delivered", || {
        status_of(&bob, &a, "hi Ada") == Some(MessageStatus::Delivered)
    })
    .await?;
    assert_eq!(received(&ada, &b), ["hi Ada"]);
    assert_eq!(ada.chat.inspector().peers.get_untracked().len(), 1);
    assert_eq!(bob.chat.inspector().peers.get_untracked().len(), 1);

    // Both show the same verification code once connected.
    wait_for("verification codes", || {
        ada.chats(|c| c.get(&b).and_then(|c| c.verification.clone()))
            .is_some()
            && bob
                .chats(|c| c.get(&a).and_then(|c| c.verification.clone()))
                .is_some()
    })
    .await?;
    let code_a = ada.chats(|c| c.get(&b).and_then(|c| c.verification.clone()));
    let code_b = bob.chats(|c| c.get(&a).and_then(|c| c.verification.clone()));
    assert_eq!(code_a, code_b);
    drop((ada.owner, bob.owner));
    Ok(())
}

#[wasm_bindgen_test]
async fn a_file_arrives_with_a_matching_sha256_and_a_download_link() -> TestResult {
    let (ada, bob, a, b) = pair().await?;
    let (file, digest) = file("three.bin", 3 * 1024 * 1024 + 123)?;
    ada.chat.open(&b);
    ada.chat.send_file(&b, file);
    wait_for("the offer at Bob's", || {
        state(&bob, &a, Direction::In) == Some(TransferState::Offered)
    })
    .await?;
    let offer = bob.transfer(&a, Direction::In).ok_or("no offer")?;
    assert_eq!(
        (offer.name.as_str(), offer.size),
        ("three.bin", 3 * 1024 * 1024 + 123)
    );
    bob.chat.answer(&a, &offer.id, true);
    wait_for("done on both sides", || {
        state(&bob, &a, Direction::In) == Some(TransferState::Done)
            && state(&ada, &b, Direction::Out) == Some(TransferState::Done)
    })
    .await
    .map_err(|e| {
        format!(
            "{e}: Ada {:?}, Bob {:?}",
            state(&ada, &b, Direction::Out),
            state(&bob, &a, Direction::In)
        )
    })?;
    let at_bob = bob.transfer(&a, Direction::In).ok_or("gone")?;
    let at_ada = ada.transfer(&b, Direction::Out).ok_or("gone")?;
    assert_eq!(at_bob.sha256.as_deref(), Some(digest.as_str()));
    assert_eq!(at_ada.sha256.as_deref(), Some(digest.as_str()));
    assert_eq!(at_bob.bytes, at_bob.size);
    let url = at_bob.url.ok_or("no download link")?;
    assert_eq!(fetch_digest(&url).await?, (3 * 1024 * 1024 + 123, digest));
    drop((ada.owner, bob.owner));
    Ok(())
}

#[wasm_bindgen_test]
async fn a_declined_file_is_declined_on_both_sides() -> TestResult {
    let (ada, bob, a, b) = pair().await?;
    let (file, _) = file("no.bin", 1000)?;
    ada.chat.send_file(&b, file);
    wait_for("the offer", || {
        state(&bob, &a, Direction::In) == Some(TransferState::Offered)
    })
    .await?;
    let id = bob.transfer(&a, Direction::In).ok_or("no offer")?.id;
    bob.chat.answer(&a, &id, false);
    wait_for("declined at Ada's", || {
        state(&ada, &b, Direction::Out) == Some(TransferState::Declined)
    })
    .await?;
    assert_eq!(
        state(&bob, &a, Direction::In),
        Some(TransferState::Declined)
    );
    drop((ada.owner, bob.owner));
    Ok(())
}

#[wasm_bindgen_test]
async fn either_side_can_cancel_a_running_transfer() -> TestResult {
    let (ada, bob, a, b) = pair().await?;
    for canceller in ["Ada", "Bob"] {
        ada.chat.send_file(&b, zeros("big.bin", 32 * 1024 * 1024)?);
        wait_for("a new offer", || {
            state(&bob, &a, Direction::In) == Some(TransferState::Offered)
        })
        .await?;
        let id = bob.transfer(&a, Direction::In).ok_or("no offer")?.id;
        bob.chat.answer(&a, &id, true);
        wait_for("bytes flowing", || {
            bob.transfer(&a, Direction::In).is_some_and(|t| t.bytes > 0)
        })
        .await
        .map_err(|e| {
            format!(
                "{e}: Ada {:?}, Bob {:?}",
                ada.transfer(&b, Direction::Out),
                bob.transfer(&a, Direction::In)
            )
        })?;
        let (mine, theirs) = if canceller == "Ada" {
            ada.chat.cancel(&b, &id);
            (state(&ada, &b, Direction::Out), (&bob, &a, Direction::In))
        } else {
            bob.chat.cancel(&a, &id);
            (state(&bob, &a, Direction::In), (&ada, &b, Direction::Out))
        };
        assert_eq!(
            mine,
            Some(TransferState::Cancelled {
                by: canceller.into()
            })
        );
        let (side, peer, direction) = theirs;
        wait_for("cancelled on the other side", || {
            state(side, peer, direction)
                == Some(TransferState::Cancelled {
                    by: canceller.into(),
                })
        })
        .await
        .map_err(|e| format!("{e}: {:?}", state(side, peer, direction)))?;
        assert!(side
            .transfer(peer, direction)
            .is_some_and(|t| t.bytes < t.size));
    }
    // The conversation goes on.
    ada.chat.send_text(&b, "still here");
    wait_for("delivered after the cancels", || {
        status_of(&ada, &b, "still here") == Some(MessageStatus::Delivered)
    })
    .await?;
    drop((ada.owner, bob.owner));
    Ok(())
}

#[wasm_bindgen_test]
async fn a_sender_that_vanishes_mid_transfer_fails_the_transfer() -> TestResult {
    let (ada, bob, a, b) = pair().await?;
    ada.chat
        .send_file(&b, zeros("vanish.bin", 32 * 1024 * 1024)?);
    wait_for("the offer", || {
        state(&bob, &a, Direction::In) == Some(TransferState::Offered)
    })
    .await?;
    let id = bob.transfer(&a, Direction::In).ok_or("no offer")?.id;
    bob.chat.answer(&a, &id, true);
    wait_for("bytes flowing", || {
        bob.transfer(&a, Direction::In).is_some_and(|t| t.bytes > 0)
    })
    .await
    .map_err(|e| {
        format!(
            "{e}: Ada {:?}, Bob {:?}",
            ada.transfer(&b, Direction::Out),
            bob.transfer(&a, Direction::In)
        )
    })?;
    // Ada closes her tab.
    ada.owner.cleanup();
    wait_for("failed at Bob's", || {
        matches!(
            state(&bob, &a, Direction::In),
            Some(TransferState::Failed { .. })
        )
    })
    .await?;
    let why = state(&bob, &a, Direction::In)
        .and_then(|s| s.error_text())
        .unwrap_or_default();
    assert_eq!(why, "transfer failed: Ada left", "{}", ada.name);
    drop(bob.owner);
    Ok(())
}
