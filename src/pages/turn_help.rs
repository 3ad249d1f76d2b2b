//! `/help/turn-server`: what a TURN server is for and how to run one beside the relay. The failure
//! messages of chat and room, and the home page's note on what this relay reaches, link here; the README's
//! "TURN server" section says the same for whoever deploys.

use leptos::prelude::*;
use leptos_router::components::A;

#[component]
pub fn TurnHelpPage() -> impl IntoView {
    view! {
        <article class="help" data-testid="page-turn-help">
            <h1>"Connecting people on different networks"</h1>
            <p>
                "Two browsers first try to reach each other directly: on the same network by their own "
                "addresses (host candidates), across ordinary home routers by the public address a STUN "
                "server saw (server-reflexive candidates). Routers that give every destination a new port "
                "(symmetric NATs, common on mobile and corporate networks) and firewalls that let only TCP "
                "out leave one path: a TURN server that relays the call. Without one such calls fail."
            </p>
            <h2>"For whoever runs the relay"</h2>
            <ol>
                <li>"Install coturn (Debian: " <code>"apt-get install coturn"</code> ") on a machine with a public address."</li>
                <li>
                    "Start it with the project's script, sharing a secret with the relay: "
                    <code>"PEERLAB_TURN_SECRET=… scripts/coturn.sh --ip 198.51.100.7"</code>
                    ". It accepts only credentials the relay minted for members of a room, and refuses to relay "
                    "to private, loopback and link-local addresses."
                </li>
                <li>
                    "Start the relay with "
                    <code>"--ice-url stun:198.51.100.7:3478 --turn-url 'turn:198.51.100.7:3478?transport=udp' --turn-url 'turn:198.51.100.7:3478?transport=tcp' --turn-secret …"</code>
                    ". TURN over TCP is what gets through firewalls that block UDP."
                </li>
                <li>"Open UDP and TCP 3478 and UDP 49152–65535 to the TURN server."</li>
            </ol>
            <p>"The README's \"TURN server\" section has the details. " <A href="/">"Back to the home page"</A> "."</p>
        </article>
    }
}
