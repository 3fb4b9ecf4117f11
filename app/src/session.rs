//! The signed-in identity and the actions that change it, shared by the
//! navigation and the account pages.

use leptos::prelude::*;

use crate::api::{get_me, Me};

/// Provided once by `App` on the server; pages take it with `expect_context`.
/// (Pages render on the server only: the browser hydrates islands, which get
/// what they need of the session as props.)
#[derive(Clone, Copy)]
pub struct SessionContext {
    /// Who is signed in.
    pub me: Resource<Result<Option<Me>, crate::api::ApiError>>,
}

impl SessionContext {
    pub fn provide() -> Self {
        let ctx = Self {
            me: Resource::new(|| (), |_| get_me()),
        };
        provide_context(ctx);
        ctx
    }
}

/// `false` as rendered by the server, `true` once the island holding it is
/// live in the browser: tests (and styles) can tell a form works.
pub fn hydrated() -> ReadSignal<bool> {
    let (live, set_live) = signal(false);
    // Effects run only in the browser.
    Effect::new(move |_| set_live.set(true));
    live
}

/// `YYYY-MM-DD` of an epoch-milliseconds time (UTC).
pub fn date_of(ms: i64) -> String {
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = ms.div_euclid(86_400_000) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_civil_utc_dates() {
        assert_eq!(super::date_of(0), "1970-01-01");
        assert_eq!(super::date_of(1_795_392_000_000), "2026-11-23");
        assert_eq!(super::date_of(951_782_400_000), "2000-02-29");
    }
}
