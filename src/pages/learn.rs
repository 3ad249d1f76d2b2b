//! `/learn` and `/learn/<chapter>`: the guide. The chapters are data (`crate::guide`); this page renders
//! the table of contents and one chapter at a time with the same component, plus the chapter's live part:
//! the relay log of a private room this page joins (signaling), or the topology cost table.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_params_map, use_query_map};
use peerlab_protocol::validate_room;

use crate::components::RelayLog;
use crate::guide::{chapter, streams, Chapter, Extra, Topology, CHAPTERS, GUIDE_HREF, TABLE_SIZES};
use crate::pages::NotFoundPage;
use crate::signaling::private_room::random_private_room;
use crate::signaling::use_relay_room;

/// `/learn`: what the guide is, and its chapters.
#[component]
pub fn LearnPage() -> impl IntoView {
    view! {
        <article class="learn">
            <h1 data-testid="page-learn">"Guide: WebRTC step by step"</h1>
            <p class="lead">
                "Eight short chapters, in the order a call comes together. Each one links to the page of "
                "peerlab where you can watch it happen, and names the code of this project that does it."
            </p>
            <nav aria-labelledby="learn-contents-title">
                <h2 id="learn-contents-title">"Chapters"</h2>
                <ol class="learn-contents">
                    {CHAPTERS
                        .iter()
                        .map(|c| {
                            view! {
                                <li data-testid="learn-toc-entry">
                                    <A href=c.href()>{c.title}</A>
                                    <p class="hint">{c.summary}</p>
                                </li>
                            }
                        })
                        .collect_view()}
                </ol>
            </nav>
        </article>
    }
}

/// `/learn/<chapter>`; an unknown chapter is the not-found page.
#[component]
pub fn LearnChapterPage() -> impl IntoView {
    let params = use_params_map();
    move || {
        let slug = params.with(|p| p.get("chapter").unwrap_or_default());
        match chapter(&slug) {
            Some((index, chapter)) => {
                view! { <ChapterView index=index chapter=chapter /> }.into_any()
            }
            None => view! { <NotFoundPage /> }.into_any(),
        }
    }
}

#[component]
fn ChapterView(index: usize, chapter: &'static Chapter) -> impl IntoView {
    let previous = index.checked_sub(1).and_then(|i| CHAPTERS.get(i));
    let next = CHAPTERS.get(index + 1);
    view! {
        <article class="learn-chapter" data-testid="learn-chapter" data-slug=chapter.slug>
            <p class="hint">
                <A href=GUIDE_HREF>"Guide"</A> {format!(" · chapter {} of {}", index + 1, CHAPTERS.len())}
            </p>
            <h1 data-testid="learn-chapter-title">{chapter.title}</h1>
            {chapter.paragraphs.iter().map(|p| view! { <p>{*p}</p> }).collect_view()}
            {match chapter.extra {
                Extra::None => None,
                Extra::RelayLog => Some(view! { <LiveRelayLog /> }.into_any()),
                Extra::CostTable => Some(view! { <CostTable /> }.into_any()),
            }}
            <section aria-labelledby="learn-live-title">
                <h2 id="learn-live-title">"Watch it happen"</h2>
                <ul>
                    {chapter
                        .live
                        .iter()
                        .map(|link| {
                            view! {
                                <li>
                                    <A href=link.href attr:data-testid="learn-live-link">{link.text}</A>
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
            </section>
            <section aria-labelledby="learn-code-title">
                <h2 id="learn-code-title">"In this project's code"</h2>
                <ul>
                    {chapter
                        .code
                        .iter()
                        .map(|code| {
                            view! {
                                <li data-testid="learn-code" data-file=code.file>
                                    <code>{code.file}</code> ", " <code>{code.item}</code> ": " {code.what}
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
            </section>
            <nav class="learn-pager" aria-label="Chapters">
                {previous.map(|c| view! {
                    <A href=c.href() attr:data-testid="learn-previous">{format!("Previous chapter: {}", c.title)}</A>
                })}
                " "
                {next.map(|c| view! {
                    <A href=c.href() attr:data-testid="learn-next">{format!("Next chapter: {}", c.title)}</A>
                })}
            </nav>
        </article>
    }
}

/// The relay log of a private room this page joins while it is shown. `?room=` picks the room, so a
/// second tab opened with the link below joins the same one and each sees the other arrive.
#[component]
fn LiveRelayLog() -> impl IntoView {
    let query = use_query_map();
    let room = query
        .with_untracked(|q| q.get("room"))
        .and_then(|r| validate_room(&r).ok())
        .unwrap_or_else(|| random_private_room("learn"));
    let relay = use_relay_room(room.clone(), None);
    relay.join("guide reader");
    let same_room = format!("/learn/signaling?room={room}");
    view! {
        <section class="panel learn-live-log" aria-labelledby="learn-log-title" data-testid="learn-relay-log">
            <h2 id="learn-log-title">"Live: this page's relay messages"</h2>
            <p class="hint">
                "Room " <code>{room}</code> ", private to this page. "
                <a href=same_room target="_blank" rel="noopener">
                    "Open this chapter in the same room in a new tab"
                </a>
                " to watch a member_joined arrive here."
            </p>
            <RelayLog log=relay.log() />
        </section>
    }
}

/// The cost of each topology for 2 to 8 people, from `guide::streams`.
#[component]
fn CostTable() -> impl IntoView {
    let pair = |t, n| {
        let s = streams(t, n);
        (
            format!("{} / {}", s.up, s.down),
            format!("{} / {}", s.server_in, s.server_out),
        )
    };
    view! {
        <section class="panel" aria-labelledby="learn-cost-title">
            <h2 id="learn-cost-title">"Streams per call"</h2>
            <p class="hint" id="learn-cost-note">
                "Video streams each participant sends / receives, and the server receives / sends in all."
            </p>
            <div class="table-scroll">
                <table
                    class="learn-costs"
                    data-testid="learn-cost-table"
                    aria-labelledby="learn-cost-title"
                    aria-describedby="learn-cost-note"
                >
                    <thead>
                        <tr>
                            <th scope="col">"People"</th>
                            <th scope="col">"Mesh: each sends / receives"</th>
                            <th scope="col">"SFU: each sends / receives"</th>
                            <th scope="col">"SFU server: in / out"</th>
                            <th scope="col">"MCU: each sends / receives"</th>
                            <th scope="col">"MCU server: in / out"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {TABLE_SIZES
                            .map(|n| {
                                let (mesh, _) = pair(Topology::Mesh, n);
                                let (sfu, sfu_server) = pair(Topology::Sfu, n);
                                let (mcu, mcu_server) = pair(Topology::Mcu, n);
                                view! {
                                    <tr data-testid="learn-cost-row" data-people=n>
                                        <th scope="row">{n}</th>
                                        <td data-testid="learn-cost-mesh">{mesh}</td>
                                        <td>{sfu}</td>
                                        <td>{sfu_server}</td>
                                        <td>{mcu}</td>
                                        <td>{mcu_server}</td>
                                    </tr>
                                }
                            })
                            .collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}
