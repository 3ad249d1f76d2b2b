//! The pieces that show one peer connection, shared by the loopback page and the chat and room
//! inspectors: its four states with the browser's words, the selected candidate pair, the timeline of
//! steps with their one-line explanations, and a session description folded by section.

use leptos::prelude::*;

use crate::rtc::path::describe_pair;
use crate::rtc::peer::PeerStates;
use crate::rtc::sdp::{sections, SdpSection};
use crate::rtc::stats::SelectedPair;
use crate::rtc::timeline::Step;

/// A connection's signaling, gathering, ICE and overall states: each cell shows the browser's word, and
/// its tooltip what the state means, so the page teaches the browser's vocabulary.
#[component]
pub fn StateTable(name: String, test_id: &'static str, states: PeerStates) -> impl IntoView {
    let PeerStates {
        connection,
        ice,
        signaling,
        gathering,
    } = states;
    let (connection, ice, signaling, gathering) = (
        RwSignal::from(connection),
        RwSignal::from(ice),
        RwSignal::from(signaling),
        RwSignal::from(gathering),
    );
    let label = format!("{name} states");
    view! {
        <dl class="connection-facts state-table" data-testid=test_id aria-label=label>
            <dt class="state-name">{name}</dt>
            <dd></dd>
            <dt>"Signaling"</dt>
            <dd data-testid=format!("{test_id}-signaling") title=move || signaling.get().words()>
                {move || signaling.get().as_str()}
            </dd>
            <dt>"ICE gathering"</dt>
            <dd title=move || gathering.get().words()>{move || gathering.get().as_str()}</dd>
            <dt>"ICE connection"</dt>
            <dd data-testid=format!("{test_id}-ice") title=move || ice.get().words()>
                {move || ice.get().as_str()}
            </dd>
            <dt>"Connection"</dt>
            <dd
                data-testid=format!("{test_id}-connection")
                data-state=move || connection.get().as_str()
                title=move || connection.get().words()
            >
                {move || connection.get().as_str()}
            </dd>
        </dl>
    }
}

/// The candidate pair ICE selected, this side first, or why there is none yet.
#[component]
pub fn SelectedPairLine(
    #[prop(into)] pair: Signal<Option<SelectedPair>>,
    test_id: &'static str,
) -> impl IntoView {
    view! {
        <p class="selected-pair" data-testid=test_id>
            <strong>"Selected candidate pair: "</strong>
            {move || {
                pair.with(|p| {
                    p.as_ref()
                        .map(describe_pair)
                        .unwrap_or_else(|| "none yet (ICE has not chosen a path)".into())
                })
            }}
        </p>
    }
}

/// The steps of one or two connections, oldest first, each with its time, a title and why it happened;
/// a created description or a gathered candidate shows its text on demand. `first_key` is the number of
/// steps dropped before the first one given, so each step keeps its key as older ones are dropped and
/// only new steps are rendered; the key also holds the step's time, so a timeline that starts again (the
/// loopback's next run) renders its new steps rather than keeping the old rows.
#[component]
pub fn Timeline(
    #[prop(into)] steps: Signal<Vec<Step>>,
    #[prop(into, optional)] first_key: Signal<usize>,
    test_id: &'static str,
    step_test_id: &'static str,
    /// The steps are of two connections (the loopback's caller and callee): each shows its side, and
    /// steps of neither show "page". The inspectors' timelines are each of one connection.
    #[prop(optional)]
    two_sides: bool,
    /// Whether screen readers announce new steps (the loopback's one timeline); the inspectors' many,
    /// busy timelines are not announced.
    #[prop(optional)]
    live: bool,
) -> impl IntoView {
    let keyed = move || {
        let first = first_key.get();
        steps
            .get()
            .into_iter()
            .enumerate()
            .map(|(i, step)| ((first + i, step.at_ms.to_bits()), step))
            .collect::<Vec<_>>()
    };
    view! {
        <ol
            class="timeline"
            class:one-connection=!two_sides
            data-testid=test_id
            aria-live=live.then_some("polite")
            aria-label="Timeline"
            // Focusable: the list scrolls, and a keyboard must be able to scroll it.
            tabindex="0"
        >
            <For each=keyed key=|(key, _)| *key let:item>
                <TimelineStep step=item.1 test_id=step_test_id two_sides=two_sides />
            </For>
        </ol>
    }
}

#[component]
fn TimelineStep(step: Step, test_id: &'static str, two_sides: bool) -> impl IntoView {
    let side = two_sides.then(|| step.side.map_or("page", |s| s.label()));
    view! {
        <li class="step" data-testid=test_id data-step=step.kind.code() data-side=side>
            <span class="step-time">{format!("{:.0} ms", step.at_ms)}</span>
            {side.map(|side| view! { <span class=format!("step-side side-{side}")>{side}</span> })}
            <span class="step-title">{step.kind.title()}</span>
            <p class="step-why">{step.kind.explanation()}</p>
            {step.sdp.map(|sdp| view! {
                <details><summary>"Show text"</summary><pre>{sdp}</pre></details>
            })}
        </li>
    }
}

/// A session description folded by section (`rtc::sdp`): the session part and each media line under its
/// own summary. The sections' texts together are the description exactly. Sections are keyed by their
/// place, so one that is open stays open while the description grows (gathering adds candidate lines).
#[component]
pub fn SdpView(
    #[prop(into)] title: Signal<String>,
    #[prop(into)] sdp: Signal<Option<String>>,
    test_id: &'static str,
    /// What shows while there is no description.
    empty: &'static str,
) -> impl IntoView {
    let parts = Memo::new(move |_| sdp.with(|s| s.as_deref().map(sections)));
    let count = Memo::new(move |_| parts.with(|p| p.as_ref().map_or(0, Vec::len)));
    let part = move |index: usize, f: fn(&SdpSection) -> String| {
        move || {
            parts.with(|p| {
                p.as_ref()
                    .and_then(|p| p.get(index))
                    .map(f)
                    .unwrap_or_default()
            })
        }
    };
    view! {
        <details class="sdp" data-testid=test_id>
            <summary>{title}</summary>
            <p class="hint" hidden=move || count.get() > 0>{empty}</p>
            <For each=move || 0..count.get() key=|index| *index let:index>
                <details class="sdp-section" data-testid="sdp-section">
                    <summary>{part(index, |p| p.title.clone())}</summary>
                    <pre data-testid="sdp-text" tabindex="0">{part(index, |p| p.text.clone())}</pre>
                </details>
            </For>
        </details>
    }
}
