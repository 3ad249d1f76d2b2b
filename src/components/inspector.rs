//! The inspector panel of the chat and room pages: the relay messages a page sent and received, every peer
//! connection's states, and for each connection what the loopback page shows of its two — the offer and
//! answer folded by section, every candidate of both ends, the selected pair and its changes, the
//! timeline with its explanations and live charts. On the room page also the frame rate, the cap on the
//! video this side sends, and what the mesh costs the uplink next to an SFU.
//!
//! It renders what it is given (the relay handle's [`SignalLog`] and the mesh's [`InspectorFeed`]); it
//! produces neither. While it shows something made from the connections' readings — a connection's
//! details, or the room's uplink — it sets the feed's `watching`, and the mesh reads their statistics
//! and descriptions every second; otherwise nothing is read.

use leptos::prelude::*;

use crate::mesh::{InspectorFeed, PeerRow, Uplink};
use crate::rtc::inspection::{CandidateRow, End, PeerInspection};
use crate::rtc::peer::PeerStates;
use crate::rtc::states::PeerConnectionState;
use crate::rtc::stats::Series;
use crate::signaling::SignalLog;

use super::{LineChart, RelayLog, SdpView, SelectedPairLine, StateTable, Timeline};

#[component]
pub fn Inspector(
    /// The relay messages, from `RelayRoom::log`.
    log: RwSignal<SignalLog>,
    /// The live peer connections and their inspections, from the page's mesh.
    feed: InspectorFeed,
    /// Starts closed, and renders and reads nothing until it is opened. The room page uses this: while a
    /// call comes together each relay message and state change would otherwise update the page, and
    /// every update is a rendering pass the page waits for a core to do while the machine encodes and
    /// decodes video (docs/BENCHMARKS.md, mesh set-up).
    #[prop(optional)]
    collapsed: bool,
    /// The connections carry audio and video (the room): adds the frame rate, the sender's cap and the
    /// uplink comparison.
    #[prop(optional)]
    media: bool,
) -> impl IntoView {
    let watching = feed.watching;
    let open = RwSignal::new(!collapsed);
    // How many connections' details are open now.
    let open_details = RwSignal::new(0usize);
    Effect::new(move |_| {
        let reads = open.get() && (media || open_details.get() > 0);
        if watching.get_untracked() != reads {
            watching.set(reads);
        }
    });
    on_cleanup(move || {
        watching.try_set(false);
    });
    if !collapsed {
        return view! {
            <section class="panel inspector" data-testid="inspector" aria-labelledby="inspector-title">
                <h2 id="inspector-title">"Inspector"</h2>
                <InspectorBody log=log peers=feed.peers media=media open_details=open_details />
            </section>
        }
        .into_any();
    }
    view! {
        <details
            class="panel inspector"
            data-testid="inspector"
            on:toggle=move |ev| {
                let details = event_target::<web_sys::HtmlDetailsElement>(&ev);
                open.set(details.open());
            }
        >
            <summary>
                <h2 id="inspector-title">"Inspector"</h2>
                <span class="hint">" the relay messages and every peer connection, step by step"</span>
            </summary>
            <Show when=move || open.get()>
                <InspectorBody log=log peers=feed.peers media=media open_details=open_details />
            </Show>
        </details>
    }
    .into_any()
}

#[component]
fn InspectorBody(
    log: RwSignal<SignalLog>,
    peers: Signal<Vec<PeerRow>>,
    media: bool,
    open_details: RwSignal<usize>,
) -> impl IntoView {
    view! {
        <h3>"Peer connections"</h3>
        <p class="hint" hidden=move || peers.with(|p| !p.is_empty())>
            "No peer connections yet. Pick someone to talk to."
        </p>
        <table class="inspector-peers" hidden=move || peers.with(Vec::is_empty)>
            <thead>
                <tr>
                    <th scope="col">"Peer"</th>
                    <th scope="col">"Connection"</th>
                    <th scope="col">"ICE"</th>
                    <th scope="col">"Signaling"</th>
                    <th scope="col">"Gathering"</th>
                </tr>
            </thead>
            <tbody>
                <For each=move || peers.get() key=|row| row.id.clone() let:row>
                    <PeerStateRow row=row />
                </For>
            </tbody>
        </table>
        {media.then(|| view! { <UplinkLine peers=peers /> })}
        <For each=move || peers.get() key=|row| row.id.clone() let:row>
            <PeerDetail row=row media=media open_details=open_details />
        </For>
        <h3>"Relay messages " <span class="hint">"(newest first)"</span></h3>
        <RelayLog log=log entry_testid="inspector-entry" />
    }
}

fn short(id: &str) -> String {
    id.chars().take(8).collect()
}

#[component]
fn PeerStateRow(row: PeerRow) -> impl IntoView {
    // Like the loopback's state table: the browser's words, and what they mean as tooltips.
    let PeerStates {
        connection,
        ice,
        signaling,
        gathering,
    } = row.states;
    let (connection, ice, signaling, gathering) = (
        RwSignal::from(connection),
        RwSignal::from(ice),
        RwSignal::from(signaling),
        RwSignal::from(gathering),
    );
    view! {
        <tr
            data-testid="inspector-peer"
            data-peer-id=row.id.to_string()
            data-connection=move || connection.get().as_str()
        >
            <td><code class="peer-id">{short(row.id.as_str())}</code></td>
            <td
                class="state"
                data-state=move || connection.get().as_str()
                title=move || connection.get().words()
            >
                {move || connection.get().as_str()}
            </td>
            <td title=move || ice.get().words()>{move || ice.get().as_str()}</td>
            <td title=move || signaling.get().words()>{move || signaling.get().as_str()}</td>
            <td title=move || gathering.get().words()>{move || gathering.get().as_str()}</td>
        </tr>
    }
}

/// The mesh's uplink next to an SFU's, from what each connection sends now.
#[component]
fn UplinkLine(peers: Signal<Vec<PeerRow>>) -> impl IntoView {
    let uplink = Memo::new(move |_| {
        // Connections still being set up (or that failed) send nothing, and are not streams of the mesh.
        let readings: Vec<Option<f64>> = peers.with(|rows| {
            rows.iter()
                .filter(|row| row.states.connection.get() == PeerConnectionState::Connected)
                .map(|row| {
                    row.inspection
                        .with(|i| i.latest().and_then(|s| s.outbound_kbps))
                })
                .collect()
        });
        Uplink::of(&readings)
    });
    view! {
        <p
            class="uplink"
            data-testid="inspector-uplink"
            data-streams=move || uplink.with(|u| u.as_ref().map(|u| u.streams))
            data-mesh-kbps=move || uplink.with(|u| u.as_ref().map(|u| format!("{:.0}", u.mesh_kbps)))
            data-sfu-kbps=move || uplink.with(|u| u.as_ref().map(|u| format!("{:.0}", u.sfu_kbps)))
        >
            <strong>"Uplink: "</strong>
            {move || {
                uplink.with(|u| {
                    u.as_ref().map(Uplink::words).unwrap_or_else(|| {
                        "measured once media flows to someone (members − 1 streams in a mesh, one to an SFU)."
                            .into()
                    })
                })
            }}
        </p>
    }
}

/// Everything about one connection, rendered only while its summary is open.
#[component]
fn PeerDetail(row: PeerRow, media: bool, open_details: RwSignal<usize>) -> impl IntoView {
    let open = RwSignal::new(false);
    let count = move |opened: bool| {
        open_details.try_update(|n| *n = if opened { *n + 1 } else { n.saturating_sub(1) });
    };
    on_cleanup(move || {
        if open.try_get_untracked() == Some(true) {
            count(false);
        }
    });
    let id = row.id.to_string();
    let connection = RwSignal::from(row.states.connection.clone());
    let summary = format!("Connection to {}", short(&id));
    view! {
        <details
            class="peer-detail"
            data-testid="inspector-peer-detail"
            data-peer-id=id
            on:toggle=move |ev| {
                let opened = event_target::<web_sys::HtmlDetailsElement>(&ev).open();
                if opened != open.get_untracked() {
                    open.set(opened);
                    count(opened);
                }
            }
        >
            <summary>
                <h3 class="peer-detail-title">{summary}</h3>
                <span class="hint">" " {move || connection.get().as_str()}</span>
            </summary>
            <Show when=move || open.get()>
                <PeerDetailBody row=row.clone() media=media />
            </Show>
        </details>
    }
}

#[component]
fn PeerDetailBody(row: PeerRow, media: bool) -> impl IntoView {
    let inspection = RwSignal::from(row.inspection.clone());
    let part = move |f: fn(&PeerInspection) -> Series| Signal::derive(move || inspection.with(f));
    // The inspection changes with every reading; the lists are copied out only when they grew.
    let step_count = Memo::new(move |_| inspection.with(|i| (i.dropped_steps(), i.steps().len())));
    let steps = Memo::new(move |_| {
        // Read, not only tracked: a memo that is never read never runs, and never hears of changes.
        let _ = step_count.get();
        inspection.with_untracked(|i| i.steps().cloned().collect::<Vec<_>>())
    });
    let dropped = Memo::new(move |_| step_count.get().0);
    let path_count = Memo::new(move |_| inspection.with(|i| (i.dropped_paths(), i.paths().len())));
    let paths = Memo::new(move |_| {
        let _ = path_count.get();
        inspection.with_untracked(|i| i.paths().cloned().collect::<Vec<_>>())
    });
    let pair = Memo::new(move |_| paths.with(|p| p.last().map(|p| p.pair.clone())));
    let readings = Memo::new(move |_| inspection.with(PeerInspection::readings));
    let local = Memo::new(move |_| inspection.with(|i| i.local_description().cloned()));
    let remote = Memo::new(move |_| inspection.with(|i| i.remote_description().cloned()));
    let cap = Memo::new(move |_| inspection.with(PeerInspection::sender_cap_bps));
    let sdp_title = |side: &'static str, sdp: Memo<Option<crate::rtc::inspection::Sdp>>| {
        Signal::derive(move || {
            sdp.with(|s| match s {
                Some(s) => format!("{side} description ({}, SDP)", s.kind.as_str()),
                None => format!("{side} description (SDP)"),
            })
        })
    };
    view! {
        <div class="peer-detail-body" data-readings=move || readings.get()>
            <StateTable name="This connection".to_owned() test_id="inspector-states" states=row.states.clone() />
            <SelectedPairLine pair=pair test_id="inspector-path" />
            <Show when=move || paths.with(|p| p.len() > 1)>
                <h4>"Path changes"</h4>
                <ol class="path-changes" data-testid="inspector-path-changes">
                    {move || {
                        paths
                            .get()
                            .into_iter()
                            .map(|change| {
                                let words = change.reading.as_ref().map(|r| r.path.words()).unwrap_or("unknown path");
                                view! {
                                    <li data-testid="inspector-path-change">
                                        {format!("{:.0} ms: {words}", change.at_ms)}
                                    </li>
                                }
                            })
                            .collect_view()
                    }}
                </ol>
            </Show>
            <h4>"Live statistics " <span class="hint">"(getStats, every second)"</span></h4>
            <div class="charts">
                {if media {
                    let cap_kbps = Signal::derive(move || cap.get().map(|bps| f64::from(bps) / 1000.0));
                    view! {
                        <LineChart
                            title="Sent"
                            unit="kbit/s"
                            series=part(|i| i.charts().sent.clone())
                            test_id="inspector-chart-sent"
                            limit=("video cap", cap_kbps)
                        />
                    }
                    .into_any()
                } else {
                    view! {
                        <LineChart title="Sent" unit="kbit/s" series=part(|i| i.charts().sent.clone()) test_id="inspector-chart-sent" />
                    }
                    .into_any()
                }}
                <LineChart title="Received" unit="kbit/s" series=part(|i| i.charts().received.clone()) test_id="inspector-chart-received" />
                <LineChart title="Round-trip time" unit="ms" series=part(|i| i.charts().rtt.clone()) test_id="inspector-chart-rtt" />
                <LineChart title="Packets lost" unit="%" series=part(|i| i.charts().loss.clone()) test_id="inspector-chart-loss" />
                {media.then(|| view! {
                    <LineChart title="Frames per second" unit="fps" series=part(|i| i.charts().fps.clone()) test_id="inspector-chart-fps" />
                })}
            </div>
            <p class="hint">
                "Sent and received count everything the connection carries: media, data channels and their "
                "overhead. Packet loss is of the audio and video (RTP) streams; data channels retransmit "
                "what is lost, so a chat has none to show."
            </p>
            {media.then(|| view! {
                <p class="hint" data-testid="inspector-cap" data-cap-bps=move || cap.get()>
                    "Cap on the video you send on this connection: "
                    {move || cap.get().map(|bps| format!("{} kbit/s", bps / 1000)).unwrap_or_else(|| "not set yet".into())}
                    " (the room divides your uplink budget between the others; the dashed line on the Sent "
                    "chart, which also counts the audio and the packets' overhead)."
                </p>
            })}
            <h4>"Candidates"</h4>
            <Candidates inspection=inspection />
            <h4>"Session descriptions"</h4>
            <SdpView
                title=sdp_title("Local", local)
                sdp=Signal::derive(move || local.with(|s| s.as_ref().map(|s| s.text.clone())))
                test_id="inspector-sdp-local"
                empty="Not set yet."
            />
            <SdpView
                title=sdp_title("Remote", remote)
                sdp=Signal::derive(move || remote.with(|s| s.as_ref().map(|s| s.text.clone())))
                test_id="inspector-sdp-remote"
                empty="Not set yet."
            />
            <h4>"Timeline " <span class="hint">"(since the connection was made)"</span></h4>
            <p class="hint" hidden=move || dropped.get() == 0>
                {move || format!("{} older steps are not shown.", dropped.get())}
            </p>
            <Timeline steps=steps first_key=dropped test_id="inspector-timeline" step_test_id="inspector-step" />
        </div>
    }
}

/// Every candidate of both ends, as gathered and as received.
#[component]
fn Candidates(inspection: RwSignal<PeerInspection>) -> impl IntoView {
    // Candidates only come and go; the list is copied out when its ends change.
    let ends = Memo::new(move |_| {
        inspection.with(|i| {
            let newest = |end| {
                i.candidates(end)
                    .last()
                    .map(|c| (c.address.clone(), c.at_ms.to_bits()))
            };
            (
                newest(End::Local),
                newest(End::Remote),
                i.candidates(End::Local).count(),
            )
        })
    });
    let rows = Memo::new(move |_| {
        let _ = ends.get();
        inspection.with_untracked(|i| {
            i.candidates(End::Local)
                .chain(i.candidates(End::Remote))
                .cloned()
                .collect::<Vec<CandidateRow>>()
        })
    });
    view! {
        <p class="hint" hidden=move || rows.with(|r| !r.is_empty())>"None yet."</p>
        <div class="table-scroll" hidden=move || rows.with(Vec::is_empty)>
            <table class="inspector-candidates">
                <thead>
                    <tr>
                        <th scope="col">"End"</th>
                        <th scope="col">"Type"</th>
                        <th scope="col">"Protocol"</th>
                        <th scope="col">"Address"</th>
                        <th scope="col">"At"</th>
                    </tr>
                </thead>
                <tbody>
                    {move || {
                        rows.get()
                            .into_iter()
                            .map(|c| {
                                let kind = c.kind.map_or("?", |k| k.as_str());
                                let protocol = match c.relay {
                                    Some(over) => format!("{} (TURN over {})", c.protocol, over.as_str()),
                                    None => c.protocol.clone(),
                                };
                                view! {
                                    <tr
                                        data-testid="inspector-candidate"
                                        data-end=c.end.as_str()
                                        data-type=kind
                                        data-protocol=c.protocol.clone()
                                        data-address=c.address.clone()
                                    >
                                        <td>{c.end.as_str()}</td>
                                        <td>{kind}</td>
                                        <td>{protocol}</td>
                                        <td><code>{c.address.clone()}</code></td>
                                        <td>{format!("{:.0} ms", c.at_ms)}</td>
                                    </tr>
                                }
                            })
                            .collect_view()
                    }}
                </tbody>
            </table>
        </div>
    }
}
