//! A small live line chart of one [`Series`], drawn as SVG.

use leptos::prelude::*;

use crate::rtc::stats::Series;

const WIDTH: f64 = 300.0;
const HEIGHT: f64 = 80.0;

/// A chart titled `title`, its newest value shown with `unit`; with a `limit` (the room's cap on what it
/// sends), a dashed line marks it and the caption names it.
#[component]
pub fn LineChart(
    title: &'static str,
    unit: &'static str,
    series: Signal<Series>,
    test_id: &'static str,
    /// What the chart's values should stay under, drawn as a line; its name in the caption.
    #[prop(optional)]
    limit: Option<(&'static str, Signal<Option<f64>>)>,
) -> impl IntoView {
    let latest = move || {
        series.with(|s| match s.latest() {
            Some(v) if v >= 100.0 => format!("{v:.0} {unit}"),
            Some(v) => format!("{v:.1} {unit}"),
            None => "–".to_owned(),
        })
    };
    let max = move || series.with(|s| s.max().map(|m| format!("max {m:.0}")).unwrap_or_default());
    let limit_value = move || limit.and_then(|(_, value)| value.get());
    let top = move || series.with(|s| s.top(limit_value()));
    let limit_line = move || {
        let (name, _) = limit?;
        let value = limit_value()?;
        let y = HEIGHT - value / top() * HEIGHT;
        Some(view! {
            <line
                class="chart-limit"
                data-testid=format!("{test_id}-limit")
                data-value=format!("{value:.0}")
                x1="0"
                y1=format!("{y:.1}")
                x2=WIDTH
                y2=format!("{y:.1}")
            >
                <title>{format!("{name}: {value:.0} {unit}")}</title>
            </line>
        })
    };
    let limit_caption = move || {
        let (name, _) = limit?;
        Some(format!(" · {name} {:.0}", limit_value()?))
    };
    view! {
        <figure class="chart" data-testid=test_id>
            <figcaption>
                <span class="chart-title">{title}</span>
                <span class="chart-value" data-testid=format!("{test_id}-value")>{latest}</span>
            </figcaption>
            <svg
                viewBox=format!("0 0 {WIDTH} {HEIGHT}")
                preserveAspectRatio="none"
                role="img"
                aria-label=move || format!("{title}: {}", latest())
            >
                <line class="chart-axis" x1="0" y1=HEIGHT x2=WIDTH y2=HEIGHT></line>
                {limit_line}
                {move || {
                    let top = top();
                    series
                        .with(|s| s.polylines(WIDTH, HEIGHT, top))
                        .into_iter()
                        .map(|points| view! { <polyline class="chart-line" points=points></polyline> })
                        .collect_view()
                }}
            </svg>
            <span class="chart-max">{max}{limit_caption}</span>
        </figure>
    }
}
