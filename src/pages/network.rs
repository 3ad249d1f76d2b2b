//! `/network`, the network check: gathers ICE candidates with the relay's STUN/TURN servers and says what
//! this browser can reach (host only, STUN, TURN over UDP or TCP), how long each server took to answer,
//! and what that means for calls to other networks. Like the trickle-ICE sample, without a call.
//!
//! The relay hands TURN credentials only to members of a room (docs/SECURITY.md, "TURN credentials"), and
//! this page keeps that rule rather than asking for an exception: it joins a private room of its own
//! (a random name, `signaling::private_room`) as an ordinary member, so the join is charged to the same
//! budgets as any other (the per-connection join budget, the rate limiter, `--max-rooms`, and
//! `--join-secret`, which refuses it like any join without a token), takes the ICE servers of its
//! `welcome`, and leaves at once. A dedicated "credentials please" message would have been one more way
//! in to guard; a join is the way in that is already guarded. The credentials expire with `--turn-ttl`
//! as everybody's do.

use futures::StreamExt;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;

use crate::rtc::diagnosis::TURN_HELP_HREF;
use crate::rtc::gathering::use_network_check;
use crate::rtc::reach_check::{CheckPhase, Gathered, ServerReading, GATHER_DEADLINE_MS};
use crate::signaling::private_room::random_private_room;
use crate::signaling::{use_relay_room, ConnectionState, SignalingEvent};

/// The display name the check joins its private room under.
const CHECK_NAME: &str = "network check";

#[component]
pub fn NetworkPage() -> impl IntoView {
    let relay = use_relay_room(random_private_room("network-check"), None);
    let check = use_network_check();
    let roster = relay.roster();
    let phase = check.phase();

    let mut events = relay.events();
    spawn_local(async move {
        while let Some(event) = events.next().await {
            if let SignalingEvent::Welcome(welcome) = event {
                check.run(welcome.ice_servers.clone());
                // The servers and their credentials are in hand; the membership has done its job.
                relay.leave();
            }
        }
    });
    // A refused join (a relay that protects its rooms, a full relay) ends the check with the relay's words.
    Effect::new(move |_| {
        let refused = roster.with(|r| {
            (r.state == ConnectionState::Refused).then(|| {
                r.problem
                    .as_ref()
                    .map(|p| format!("{} — {}", p.headline, p.detail))
                    .unwrap_or_else(|| "The relay refused the check's join.".to_owned())
            })
        });
        if let Some(why) = refused {
            if phase.with_untracked(|p| *p == CheckPhase::FetchingServers) {
                check.fail(format!(
                    "The relay hands TURN credentials only to members of a room, and it refused this check's private room: {why}"
                ));
            }
        }
    });
    relay.join(CHECK_NAME);

    let run_again = move |_| {
        check.fetching();
        relay.join(CHECK_NAME);
    };
    let busy =
        move || phase.with(|p| matches!(p, CheckPhase::FetchingServers | CheckPhase::Gathering));
    let status = move || {
        match phase.get() {
        CheckPhase::FetchingServers => {
            let state = roster.with(|r| r.state.label());
            format!("Asking the relay for its STUN and TURN servers ({state}).")
        }
        CheckPhase::Gathering => format!(
            "Gathering candidates; servers that have not answered within {} s count as unreachable.",
            GATHER_DEADLINE_MS / 1000
        ),
        CheckPhase::Done(_) => "Done.".to_owned(),
        CheckPhase::Failed(why) => why,
    }
    };

    view! {
        <article class="network-page">
            <h1 data-testid="page-network">"Network check"</h1>
            <p class="lead">
                "Which ways out of this network can a call take? This page gathers ICE candidates with the "
                "relay's STUN and TURN servers, as a call would, and says what they reach. No call is made and "
                "nothing is sent to anybody."
            </p>
            <p class="hint">
                "The relay gives TURN credentials only to members of a room, so the check joins a private room "
                "of its own for a moment and leaves it as soon as it has the servers."
            </p>
            <p
                class="network-status"
                role="status"
                data-testid="network-status"
                data-phase=move || phase.with(|p| p.token())
            >
                {status}
            </p>
            <button type="button" data-testid="network-run" on:click=run_again disabled=busy>
                "Check again"
            </button>
            {move || match phase.get() {
                CheckPhase::Done(v) => Some(view! {
                    <section
                        class="panel network-verdict"
                        aria-labelledby="network-verdict-title"
                        data-testid="network-verdict"
                        data-reached=v.reached.token()
                        data-outlook=v.outlook.token()
                    >
                        <h2 id="network-verdict-title">"Verdict: " {v.reached.title()}</h2>
                        <p data-testid="network-verdict-words">{v.outlook.words()}</p>
                        <p>
                            <A href=TURN_HELP_HREF>"How to run a TURN server beside the relay"</A>
                        </p>
                    </section>
                }),
                _ => None,
            }}
            <ServerTable servers=check.servers() />
            <CandidateTable gathered=check.gathered() phase=phase />
            <section class="panel" aria-labelledby="network-kinds-title">
                <h2 id="network-kinds-title">"What the candidate types mean"</h2>
                <dl>
                    <dt><code>"host"</code></dt>
                    <dd>
                        "An address of this device's own network interface. A name ending in "
                        <code>".local"</code>
                        " hides that address from the page (mDNS); it works only on the same network."
                    </dd>
                    <dt><code>"srflx"</code></dt>
                    <dd>
                        "Server-reflexive: the public address and port a STUN server saw this device's packets "
                        "come from. Across most home routers the other side can reach it."
                    </dd>
                    <dt><code>"relay"</code></dt>
                    <dd>
                        "An address on the TURN server, which forwards the call. It works from any network that "
                        "can reach the TURN server, over UDP or, where UDP is blocked, TCP."
                    </dd>
                </dl>
                <p>
                    "The guide's chapter on " <A href="/learn/nat-traversal">"NAT traversal"</A>
                    " explains why calls need them."
                </p>
            </section>
        </article>
    }
}

fn format_ms(ms: Option<f64>) -> String {
    ms.map(|ms| format!("{ms:.0} ms"))
        .unwrap_or_else(|| "no answer".to_owned())
}

#[component]
fn ServerTable(servers: Signal<Vec<ServerReading>>) -> impl IntoView {
    view! {
        <section class="panel" aria-labelledby="network-servers-title">
            <h2 id="network-servers-title">"STUN and TURN servers"</h2>
            <p class="hint" hidden=move || servers.with(|s| !s.is_empty())>
                "This relay hands out no STUN or TURN server (or the check has not got them yet)."
            </p>
            <p class="hint" id="network-servers-note" hidden=move || servers.with(Vec::is_empty)>
                "Round-trip times are estimates from when each server's first candidate arrived: one "
                "round trip for STUN, two for a TURN allocation, one more for TCP."
            </p>
            <div class="table-scroll">
            <table
                class="network-servers"
                hidden=move || servers.with(Vec::is_empty)
                aria-labelledby="network-servers-title"
                aria-describedby="network-servers-note"
            >
                <thead>
                    <tr>
                        <th scope="col">"Server"</th>
                        <th scope="col">"Kind"</th>
                        <th scope="col">"First answer"</th>
                        <th scope="col">"Round trip (≈)"</th>
                        <th scope="col">"Candidates"</th>
                    </tr>
                </thead>
                <tbody>
                    <For each=move || servers.get() key=|r| (r.url.clone(), r.candidates, r.answered_ms.map(f64::to_bits)) let:r>
                        <tr
                            data-testid="network-server"
                            data-kind=r.kind.label()
                            data-answered=if r.answered_ms.is_some() { "true" } else { "false" }
                        >
                            <td><code>{r.url.clone()}</code></td>
                            <td>{r.kind.label()}</td>
                            <td>{format_ms(r.answered_ms)}</td>
                            <td data-testid="network-server-rtt">{r.rtt_ms.map(|ms| format!("{ms:.0} ms")).unwrap_or_else(|| "—".to_owned())}</td>
                            <td>{r.candidates}</td>
                        </tr>
                    </For>
                </tbody>
            </table>
            </div>
        </section>
    }
}

#[component]
fn CandidateTable(gathered: Signal<Vec<Gathered>>, phase: Signal<CheckPhase>) -> impl IntoView {
    let rows = move || gathered.get().into_iter().enumerate().collect::<Vec<_>>();
    view! {
        <section class="panel" aria-labelledby="network-candidates-title">
            <h2 id="network-candidates-title">"Candidates gathered"</h2>
            <p class="hint" hidden=move || gathered.with(|g| !g.is_empty())>
                {move || match phase.get() {
                    CheckPhase::Done(_) => {
                        "None: this browser offered no candidate at all. Browsers hide local addresses behind \
                         .local names until a page may use the camera, and give none where such a name \
                         cannot be published."
                    }
                    _ => "None yet.",
                }}
            </p>
            <div class="table-scroll">
                <table class="network-candidates" hidden=move || gathered.with(Vec::is_empty)>
                    <thead>
                        <tr>
                            <th scope="col">"Type"</th>
                            <th scope="col">"Protocol"</th>
                            <th scope="col">"Address"</th>
                            <th scope="col">"Port"</th>
                            <th scope="col">"From server"</th>
                            <th scope="col">"After"</th>
                        </tr>
                    </thead>
                    <tbody>
                        <For each=rows key=|(i, _)| *i let:row>
                            <tr data-testid="network-candidate" data-type=row.1.kind.as_str()>
                                <td><code>{row.1.kind.as_str()}</code></td>
                                <td>
                                    {row.1.protocol.clone()}
                                    {row.1.relay.map(|t| format!(" (to TURN: {})", t.as_str()))}
                                </td>
                                <td><code>{row.1.address.clone()}</code></td>
                                <td>{row.1.port.map(|p| p.to_string()).unwrap_or_default()}</td>
                                <td>
                                    <code>{row.1.url.clone().unwrap_or_else(|| "(this device)".to_owned())}</code>
                                </td>
                                <td>{format!("{:.0} ms", row.1.at_ms)}</td>
                            </tr>
                        </For>
                    </tbody>
                </table>
            </div>
        </section>
    }
}
