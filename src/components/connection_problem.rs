//! The message a connection that could not be made shows, the same in the chat and the room: the likely
//! cause, what would fix it, where the README explains running a TURN server, and the network check that
//! tests this browser's way out. The words come from
//! `rtc::diagnosis`; this view only lays them out.

use leptos::prelude::*;

use crate::rtc::diagnosis::{ConnectionProblem, NETWORK_CHECK_HREF, TURN_HELP_HREF};

/// Renders nothing while `problem` is `None`.
#[component]
pub fn ConnectionProblemNote(
    #[prop(into)] problem: Signal<Option<ConnectionProblem>>,
) -> impl IntoView {
    move || {
        problem.get().map(|p| {
            view! {
                <div class="connection-problem" role="alert" data-testid="connection-problem" data-cause=p.token()>
                    <p class="connection-problem-cause" data-testid="connection-problem-cause">
                        <strong>"Could not connect. "</strong>
                        {p.cause()}
                    </p>
                    <p class="connection-problem-fix" data-testid="connection-problem-fix">
                        {p.fix()}
                        " "
                        <a href=TURN_HELP_HREF data-testid="connection-problem-help" target="_blank" rel="noopener">
                            "README: TURN server"
                        </a>
                        " "
                        <a href=NETWORK_CHECK_HREF data-testid="connection-problem-check" target="_blank" rel="noopener">
                            "Check your network"
                        </a>
                    </p>
                </div>
            }
        })
    }
}
