//! Durations as `kubectl get` prints them: upstream's `duration.HumanDuration` (the AGE
//! column, ~2–3 significant figures: `45s`, `2m5s`, `3h20m`, `5d4h`, `2y10d`) and
//! `duration.ShortHumanDuration` (one unit: `45s`, `2m`, `3h`, `5d`, `2y`), from
//! `k8s.io/apimachinery/pkg/util/duration`.
//!
//! Both tolerate a clock skew of up to one second in the future (`0s`); further in the
//! future prints `<invalid>`. All divisions truncate toward zero, as Go's integer
//! conversions do.

use chrono::{DateTime, Duration, Utc};

/// The age of something that happened at `t`, seen at `now`; `<unknown>` when the time is
/// not set (upstream's `translateTimestampSince`).
pub fn since(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match t {
        Some(t) => human_duration(now - t),
        None => "<unknown>".to_string(),
    }
}

/// Upstream's `HumanDuration`: up to two units, precise for recent times and coarse for old ones.
///
/// | up to       | shows        |
/// |-------------|--------------|
/// | 2 minutes   | `119s`       |
/// | 10 minutes  | `9m59s`, `3m`|
/// | 3 hours     | `179m`       |
/// | 8 hours     | `7h59m`, `5h`|
/// | 2 days      | `47h`        |
/// | 8 days      | `7d23h`, `3d`|
/// | 2 years     | `729d`       |
/// | 8 years     | `7y364d`, `2y`|
/// | beyond      | `8y`         |
pub fn human_duration(d: Duration) -> String {
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".to_string();
    } else if seconds < 0 {
        return "0s".to_string();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = d.num_minutes();
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 { format!("{minutes}m") } else { format!("{minutes}m{s}s") };
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = d.num_hours();
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 { format!("{hours}h") } else { format!("{hours}h{m}m") };
    } else if hours < 48 {
        return format!("{hours}h");
    } else if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 { format!("{}d", hours / 24) } else { format!("{}d{h}h", hours / 24) };
    } else if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 { format!("{}y", hours / 24 / 365) } else { format!("{}y{dy}d", hours / 24 / 365) };
    }
    format!("{}y", hours / 24 / 365)
}

/// Upstream's `ShortHumanDuration`: the largest whole unit only (`59s`, `59m`, `23h`, `364d`, `1y`).
pub fn short_human_duration(d: Duration) -> String {
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".to_string();
    } else if seconds < 0 {
        return "0s".to_string();
    } else if seconds < 60 {
        return format!("{seconds}s");
    }
    let minutes = d.num_minutes();
    if minutes < 60 {
        return format!("{minutes}m");
    }
    let hours = d.num_hours();
    if hours < 24 {
        format!("{hours}h")
    } else if hours < 24 * 365 {
        format!("{}d", hours / 24)
    } else {
        format!("{}y", hours / 24 / 365)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: i64) -> Duration {
        Duration::seconds(n)
    }
    const M: i64 = 60;
    const H: i64 = 60 * M;
    const D: i64 = 24 * H;
    const Y: i64 = 365 * D;

    #[test]
    fn human_duration_follows_upstream_thresholds() {
        let cases = [
            (s(-2), "<invalid>"),
            (s(-1), "0s"),
            (Duration::milliseconds(-500), "0s"),
            (s(0), "0s"),
            (s(1), "1s"),
            (s(119), "119s"),
            (s(2 * M), "2m"),
            (s(2 * M + 5), "2m5s"),
            (s(9 * M + 59), "9m59s"),
            (s(10 * M), "10m"),
            (s(10 * M + 30), "10m"),
            (s(3 * H - 1), "179m"),
            (s(3 * H), "3h"),
            (s(3 * H + 20 * M), "3h20m"),
            (s(8 * H - 1), "7h59m"),
            (s(8 * H), "8h"),
            (s(47 * H + 59 * M), "47h"),
            (s(2 * D), "2d"),
            (s(5 * D + 4 * H), "5d4h"),
            (s(8 * D - 1), "7d23h"),
            (s(8 * D), "8d"),
            (s(2 * Y - 1), "729d"),
            (s(2 * Y), "2y"),
            (s(2 * Y + 10 * D), "2y10d"),
            (s(8 * Y - 1), "7y364d"),
            (s(8 * Y), "8y"),
            (s(20 * Y + 100 * D), "20y"),
        ];
        for (d, want) in cases {
            assert_eq!(human_duration(d), want, "human_duration({}s)", d.num_seconds());
        }
    }

    #[test]
    fn short_human_duration_shows_one_unit() {
        let cases = [
            (s(-2), "<invalid>"),
            (s(-1), "0s"),
            (s(59), "59s"),
            (s(60), "1m"),
            (s(H - 1), "59m"),
            (s(H), "1h"),
            (s(D - 1), "23h"),
            (s(D), "1d"),
            (s(Y - 1), "364d"),
            (s(Y), "1y"),
            (s(3 * Y + 5 * D), "3y"),
        ];
        for (d, want) in cases {
            assert_eq!(short_human_duration(d), want, "short_human_duration({}s)", d.num_seconds());
        }
    }

    #[test]
    fn age_of_an_unset_time_is_unknown() {
        assert_eq!(since(None, Utc::now()), "<unknown>");
    }
}
