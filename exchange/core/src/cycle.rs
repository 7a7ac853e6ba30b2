//! Settlement cycles: a network closes its books on `close_day` each month and pays on
//! `pay_day` (e.g. the 16th–15th, paid on the 20th). Period `2026-11` is the cycle that
//! closes in November: from 16 October 00:00 to 16 November 00:00 local time (end
//! exclusive), paid on 20 November.

use time::{Date, Month, OffsetDateTime, UtcOffset};

/// A network's settlement cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cycle {
    /// Last day of a period, 1–28.
    pub close_day: u8,
    /// Day of payment, 1–28: in the closing month if after `close_day`, else the next.
    pub pay_day: u8,
    /// The network's UTC offset, seconds.
    pub utc_offset_secs: i32,
}

/// A period, by the year and month it closes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Period {
    /// Year.
    pub year: i32,
    /// Month, 1–12.
    pub month: u8,
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl Period {
    /// `YYYY-MM` (years 2000–2999).
    pub fn parse(text: &str) -> Option<Self> {
        let (year, month) = text.split_once('-')?;
        let (year, month): (i32, u8) = (year.parse().ok()?, month.parse().ok()?);
        let ok = year.to_string().len() == 4
            && month.to_string().len() <= 2
            && text.len() == 7
            && (2000..=2999).contains(&year)
            && (1..=12).contains(&month);
        ok.then_some(Self { year, month })
    }

    /// The period before.
    pub fn previous(self) -> Self {
        if self.month == 1 {
            Self {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Self {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    /// The period after.
    pub fn next(self) -> Self {
        if self.month == 12 {
            Self {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Self {
                year: self.year,
                month: self.month + 1,
            }
        }
    }
}

impl Cycle {
    /// Unix ms of local midnight starting `day` of `period`'s month.
    fn local_midnight_ms(&self, period: Period, day: u8) -> i64 {
        let month = Month::try_from(period.month).unwrap_or(Month::January);
        let date = Date::from_calendar_date(period.year, month, day).unwrap_or(Date::MIN);
        let offset = UtcOffset::from_whole_seconds(self.utc_offset_secs).unwrap_or(UtcOffset::UTC);
        date.midnight().assume_offset(offset).unix_timestamp() * 1000
    }

    /// `[start, end)` of `period`, unix ms.
    pub fn bounds_ms(&self, period: Period) -> (i64, i64) {
        (
            self.local_midnight_ms(period.previous(), self.close_day + 1),
            self.local_midnight_ms(period, self.close_day + 1),
        )
    }

    /// When `period` is paid (local midnight of the pay day), unix ms.
    pub fn pay_ms(&self, period: Period) -> i64 {
        if self.pay_day > self.close_day {
            self.local_midnight_ms(period, self.pay_day)
        } else {
            self.local_midnight_ms(period.next(), self.pay_day)
        }
    }

    /// The period `unix_ms` falls in.
    pub fn period_of(&self, unix_ms: i64) -> Period {
        let offset = UtcOffset::from_whole_seconds(self.utc_offset_secs).unwrap_or(UtcOffset::UTC);
        let local = OffsetDateTime::from_unix_timestamp(unix_ms.div_euclid(1000))
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
            .to_offset(offset);
        let here = Period {
            year: local.year(),
            month: u8::from(local.month()),
        };
        if local.day() > self.close_day {
            here.next()
        } else {
            here
        }
    }

    /// The latest period already paid at `now_ms` (what the scheduled run settles).
    pub fn last_payable(&self, now_ms: i64) -> Period {
        let mut period = self.period_of(now_ms);
        while self.pay_ms(period) > now_ms {
            period = period.previous();
        }
        period
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DDJB: Cycle = Cycle {
        close_day: 15,
        pay_day: 20,
        utc_offset_secs: 8 * 3600,
    };

    fn ms(text: &str) -> i64 {
        OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .expect("time")
            .unix_timestamp()
            * 1000
    }

    #[test]
    fn a_period_runs_from_the_16th_to_the_15th_and_is_paid_on_the_20th() {
        let november = Period::parse("2026-11").expect("period");
        assert_eq!(
            DDJB.bounds_ms(november),
            (
                ms("2026-10-16T00:00:00+08:00"),
                ms("2026-11-16T00:00:00+08:00")
            )
        );
        assert_eq!(DDJB.pay_ms(november), ms("2026-11-20T00:00:00+08:00"));
        assert_eq!(DDJB.period_of(ms("2026-11-15T23:59:59+08:00")), november);
        assert_eq!(
            DDJB.period_of(ms("2026-11-16T00:00:00+08:00")).to_string(),
            "2026-12"
        );
        assert_eq!(
            DDJB.period_of(ms("2026-12-31T20:00:00+08:00")).to_string(),
            "2027-01"
        );
        assert_eq!(
            DDJB.last_payable(ms("2026-11-19T23:00:00+08:00"))
                .to_string(),
            "2026-10"
        );
        assert_eq!(DDJB.last_payable(ms("2026-11-20T00:00:00+08:00")), november);
    }

    #[test]
    fn periods_parse_strictly_and_wrap_years() {
        for bad in ["2026-13", "2026-1", "26-11", "2026/11", "2026-00", ""] {
            assert_eq!(Period::parse(bad), None, "{bad}");
        }
        let january = Period::parse("2027-01").expect("period");
        assert_eq!(january.previous().to_string(), "2026-12");
        assert_eq!(january.previous().next(), january);
        let early = Cycle {
            close_day: 28,
            pay_day: 5,
            utc_offset_secs: 0,
        };
        assert_eq!(early.pay_ms(january), ms("2027-02-05T00:00:00Z"));
    }
}
