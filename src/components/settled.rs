//! [`use_settled`]: a status value as a person should see it. A *passing* value ("connecting…",
//! "Joining…") shows only once it has lasted [`PASSING_SHOW_AFTER_MS`]; any other shows at once. On a
//! relay that answers within milliseconds, a join goes straight from the lobby to the call, with no
//! status that flickers for one frame. It also leaves the click that joins with nothing to redraw, so
//! the page handles the relay's welcome right after the click instead of after a rendering pass (the
//! welcome came 20–35 ms after the join against 3 ms for the plain-JS page; docs/BENCHMARKS.md, mesh
//! set-up).

use gloo_timers::callback::Timeout;
use leptos::prelude::*;

/// How long a passing value must last before it shows.
pub const PASSING_SHOW_AFTER_MS: u32 = 150;

/// What a display that shows `shown` does when the value becomes `next`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settle {
    /// Nothing changes (the value is what is shown, or a passing value is already being waited out).
    Keep,
    /// Show `next` now.
    Show,
    /// Show whatever the value is [`PASSING_SHOW_AFTER_MS`] from now.
    ShowLater,
}

/// The rule: a passing value after a settled one waits; a settled value, or a passing one after another
/// passing one, shows at once. `waiting` says whether a passing value is being waited out already (its
/// wait is not started again, so a chain of passing values shows within one wait).
pub fn settle<T: PartialEq>(
    shown: &T,
    next: &T,
    waiting: bool,
    passing: impl Fn(&T) -> bool,
) -> Settle {
    if passing(next) && !passing(shown) {
        if waiting {
            Settle::Keep
        } else {
            Settle::ShowLater
        }
    } else if next == shown {
        Settle::Keep
    } else {
        Settle::Show
    }
}

/// Follows `value` by [`settle`]'s rule; `passing` says which values pass. The pending wait is a browser
/// timeout owned by the calling component.
pub fn use_settled<T>(value: Signal<T>, passing: fn(&T) -> bool) -> Signal<T>
where
    T: Clone + PartialEq + Send + Sync + 'static,
{
    let shown = RwSignal::new(value.get_untracked());
    let wait: StoredValue<Option<Timeout>, LocalStorage> = StoredValue::new_local(None);
    Effect::new(move |_| {
        let next = value.get();
        let waiting = wait.with_value(Option::is_some);
        let now = shown.with_untracked(|shown| settle(shown, &next, waiting, passing));
        match now {
            Settle::Keep if passing(&next) => {}
            Settle::Keep => wait.set_value(None),
            Settle::Show => {
                wait.set_value(None);
                shown.set(next);
            }
            Settle::ShowLater => {
                wait.set_value(Some(Timeout::new(PASSING_SHOW_AFTER_MS, move || {
                    wait.try_set_value(None);
                    if let Some(current) = value.try_get_untracked() {
                        shown.try_set(current);
                    }
                })))
            }
        }
    });
    shown.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy(v: &&str) -> bool {
        v.ends_with('…')
    }

    #[test]
    fn a_passing_value_waits_and_a_settled_one_shows_at_once() {
        assert_eq!(
            settle(&"idle", &"connecting…", false, busy),
            Settle::ShowLater
        );
        assert_eq!(settle(&"idle", &"joined", false, busy), Settle::Show);
        // Once shown, the next passing value follows at once, and so does the end of it.
        assert_eq!(
            settle(&"connecting…", &"joining…", false, busy),
            Settle::Show
        );
        assert_eq!(settle(&"joining…", &"joined", false, busy), Settle::Show);
        assert_eq!(settle(&"joined", &"joined", false, busy), Settle::Keep);
    }

    #[test]
    fn a_chain_of_passing_values_waits_once() {
        // "connecting…" is being waited out when "joining…" comes: the wait is not started again.
        assert_eq!(settle(&"idle", &"joining…", true, busy), Settle::Keep);
        // The join settles within the wait: it shows at once, and nothing passing ever showed.
        assert_eq!(settle(&"idle", &"joined", true, busy), Settle::Show);
        // A failure settles too.
        assert_eq!(settle(&"idle", &"refused", true, busy), Settle::Show);
        // Back to what is shown while waiting: nothing to show; the caller drops the wait.
        assert_eq!(settle(&"idle", &"idle", true, busy), Settle::Keep);
    }

    #[test]
    fn works_for_flags() {
        let on = |b: &bool| *b;
        assert_eq!(settle(&false, &true, false, on), Settle::ShowLater);
        assert_eq!(settle(&false, &false, true, on), Settle::Keep);
        assert_eq!(settle(&true, &false, false, on), Settle::Show);
    }
}
