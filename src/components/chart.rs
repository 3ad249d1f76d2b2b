//! A small live line chart of one [`Series`], drawn as SVG.

use leptos::prelude::*;

use crate::rtc::stats::Series;

const WIDTH: f64 = 300.0;
const HEIGHT: f64 = 80.0;

/// A chart titled `title`, its newest value shown with `unit`.
#[component]
pub fn LineChart(
    title: &'static str,
    unit: &'static str,
    series: Signal<Series>,
    test_id: &'static str,
) -> impl IntoView {
    let latest = move || {
        series.with(|s| match s.latest() {
            Some(v) if v >= 100.0 => format!("{v:.0} {unit}"),
            Some(v) => format!("{v:.1} {unit}"),
            None => "–".to_owned(),
        })
    };
    let max = move || series.with(|s| s.max().map(|m| format!("max {m:.0}")).unwrap_or_default());
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
                {move || {
                    series
                        .with(|s| s.polylines(WIDTH, HEIGHT))
                        .into_iter()
                        .map(|points| view! { <polyline class="chart-line" points=points></polyline> })
                        .collect_view()
                }}
            </svg>
            <span class="chart-max">{max}</span>
        </figure>
    }
}
