//! The page for any address no route matches.

use leptos::prelude::*;
use leptos_router::components::A;

#[component]
pub fn NotFoundPage() -> impl IntoView {
    view! {
        <article>
            <h1 data-testid="page-not-found">"Page not found"</h1>
            <p>"There is no page at this address. " <A href="/">"Go to the home page"</A> "."</p>
        </article>
    }
}
