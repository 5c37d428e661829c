//! The OHLCV CSV format: `ticker,timestamp,open,high,low,close,volume[,label]`.
//!
//! A header row is required; columns are found by name (any order, extra
//! columns ignored). `timestamp` is unix seconds or RFC 3339; `label` is
//! `true`/`false`/`1`/`0`. Prices must be finite and > 0, volume finite and
//! ≥ 0, `high ≥ low`, and a ticker may not repeat a timestamp. Every error
//! names the line (the header is line 1) and the column.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::DateTime;

use crate::features::Bar;
use crate::synthetic::Series;

/// Columns every file must have, in the order `write_csv` writes them.
pub const REQUIRED_COLUMNS: [&str; 7] = [
    "ticker",
    "timestamp",
    "open",
    "high",
    "low",
    "close",
    "volume",
];

/// A bad CSV value, naming where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column `{column}`: {message}")]
pub struct CsvError {
    /// 1-based line (the header is line 1).
    pub line: u64,
    /// Column name (or `*` for the whole row).
    pub column: String,
    /// What was expected and what came.
    pub message: String,
}

fn err(line: u64, column: &str, message: impl Into<String>) -> CsvError {
    CsvError {
        line,
        column: column.to_owned(),
        message: message.into(),
    }
}

/// Parses CSV bytes into series sorted by ticker, bars sorted by time. If
/// the file has no `label` column every series has empty `labels`.
pub fn read_csv(bytes: &[u8]) -> Result<Vec<Series>, CsvError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| err(1, "*", format!("expected a header row: {e}")))?
        .clone();
    let find = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let mut index = [0usize; 7];
    for (slot, name) in index.iter_mut().zip(REQUIRED_COLUMNS) {
        *slot = find(name).ok_or_else(|| {
            err(
                1,
                name,
                format!(
                    "missing required column; header is `{}`",
                    headers.iter().collect::<Vec<_>>().join(",")
                ),
            )
        })?;
    }
    let label_col = find("label");
    let mut by_ticker: BTreeMap<String, Vec<(Bar, bool, u64)>> = BTreeMap::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            err(line, "*", format!("unreadable row: {e}"))
        })?;
        let line = record.position().map_or(0, |p| p.line());
        let field = |i: usize, name: &str| {
            record
                .get(i)
                .ok_or_else(|| err(line, name, "expected a value, the row is too short"))
        };
        let ticker = field(index[0], "ticker")?;
        if ticker.is_empty() {
            return Err(err(line, "ticker", "expected a non-empty ticker"));
        }
        let timestamp = parse_timestamp(field(index[1], "timestamp")?)
            .map_err(|m| err(line, "timestamp", m))?;
        let mut nums = [0.0f64; 5];
        for (k, name) in REQUIRED_COLUMNS[2..].iter().enumerate() {
            let raw = field(index[k + 2], name)?;
            let v: f64 = raw
                .parse()
                .map_err(|_| err(line, name, format!("expected a number, got `{raw}`")))?;
            if !v.is_finite() {
                return Err(err(
                    line,
                    name,
                    format!("expected a finite number, got `{raw}`"),
                ));
            }
            let ok = if *name == "volume" { v >= 0.0 } else { v > 0.0 };
            if !ok {
                let want = if *name == "volume" {
                    "volume >= 0"
                } else {
                    "a price > 0"
                };
                return Err(err(line, name, format!("expected {want}, got {v}")));
            }
            nums[k] = v;
        }
        let [open, high, low, close, volume] = nums;
        if high < low {
            return Err(err(
                line,
                "high",
                format!("expected high >= low, got high {high} < low {low}"),
            ));
        }
        let label = match label_col {
            None => false,
            Some(i) => parse_label(field(i, "label")?).map_err(|m| err(line, "label", m))?,
        };
        let bar = Bar {
            timestamp,
            open,
            high,
            low,
            close,
            volume,
        };
        by_ticker
            .entry(ticker.to_owned())
            .or_default()
            .push((bar, label, line));
    }
    let mut out = Vec::with_capacity(by_ticker.len());
    for (ticker, mut rows) in by_ticker {
        rows.sort_by_key(|(b, _, line)| (b.timestamp, *line));
        if let Some(w) = rows
            .windows(2)
            .find(|w| w[0].0.timestamp == w[1].0.timestamp)
        {
            let (first, second) = (w[0].2, w[1].2);
            return Err(err(
                first.max(second),
                "timestamp",
                format!(
                    "expected one bar per timestamp for `{ticker}`, timestamp {} also on line {}",
                    w[0].0.timestamp,
                    first.min(second)
                ),
            ));
        }
        out.push(Series {
            ticker,
            labels: if label_col.is_some() {
                rows.iter().map(|r| r.1).collect()
            } else {
                Vec::new()
            },
            bars: rows.into_iter().map(|r| r.0).collect(),
        });
    }
    Ok(out)
}

fn parse_timestamp(raw: &str) -> Result<i64, String> {
    if let Ok(secs) = raw.parse::<i64>() {
        return Ok(secs);
    }
    DateTime::parse_from_rfc3339(raw)
        .map(|d| d.timestamp())
        .map_err(|_| format!("expected unix seconds or an RFC 3339 time, got `{raw}`"))
}

fn parse_label(raw: &str) -> Result<bool, String> {
    match raw.to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" | "" => Ok(false),
        _ => Err(format!("expected true, false, 1 or 0, got `{raw}`")),
    }
}

/// Writes series as CSV with a `label` column (false where a series has no
/// labels), timestamps in unix seconds and numbers in shortest round-trip
/// form, so the bytes are deterministic and `read_csv` gives back the same
/// values. A ticker holding a comma, a quote or a line break (which
/// `read_csv` accepts in a quoted field) is written quoted.
pub fn write_csv(series: &[Series]) -> Vec<u8> {
    let mut out = String::from("ticker,timestamp,open,high,low,close,volume,label\n");
    for s in series {
        for (i, b) in s.bars.iter().enumerate() {
            let label = s.labels.get(i).copied().unwrap_or(false);
            // Writing to a String cannot fail.
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{}",
                quoted(&s.ticker),
                b.timestamp,
                b.open,
                b.high,
                b.low,
                b.close,
                b.volume,
                label
            );
        }
    }
    out.into_bytes()
}

/// `field` as one CSV field: as is, or in double quotes (inner quotes
/// doubled) when it holds a separator, a quote or a line break.
fn quoted(field: &str) -> Cow<'_, str> {
    if field.contains([',', '"', '\n', '\r']) {
        Cow::Owned(format!("\"{}\"", field.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(field)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use proptest::prelude::*;

    use super::*;
    use crate::synthetic::{SyntheticConfig, generate};

    #[test]
    fn round_trips_synthetic_series() {
        let series = generate(&SyntheticConfig {
            tickers: 3,
            rows: 200,
            ..SyntheticConfig::default()
        });
        let bytes = write_csv(&series);
        assert_eq!(read_csv(&bytes).unwrap(), series);
        assert_eq!(write_csv(&read_csv(&bytes).unwrap()), bytes);
    }

    // Found by the csv_ingest fuzz target: a quoted ticker holding a comma
    // was accepted, then written unquoted into the normalised dataset blob,
    // which no longer parsed (training from it failed).
    #[test]
    fn tickers_with_separators_and_quotes_round_trip() {
        let csv = "ticker,timestamp,open,high,low,close,volume\n\
                   \"A,B\",1,10,11,9,10,5\n\
                   \"say \"\"hi\"\"\",1,10,11,9,10,5\n\
                   \"two\nlines\",1,10,11,9,10,5\n";
        let series = read_csv(csv.as_bytes()).unwrap();
        let tickers: Vec<&str> = series.iter().map(|s| s.ticker.as_str()).collect();
        assert_eq!(tickers, ["A,B", "say \"hi\"", "two\nlines"]);
        let back = read_csv(&write_csv(&series)).unwrap();
        for (a, b) in series.iter().zip(&back) {
            assert_eq!((&a.ticker, &a.bars), (&b.ticker, &b.bars));
        }
        // Plain tickers are written as before, unquoted.
        assert!(
            write_csv(&back)
                .starts_with(b"ticker,timestamp,open,high,low,close,volume,label\n\"A,B\",1,")
        );
    }

    fn bars() -> impl Strategy<Value = Vec<Bar>> {
        let price = prop_oneof![1e-300f64..1e300, 0.01f64..1000.0];
        let bar = (
            price.clone(),
            price.clone(),
            price.clone(),
            price,
            0f64..1e12,
        )
            .prop_map(|(a, b, open, close, volume)| (a.min(b), a.max(b), open, close, volume));
        (
            prop::collection::btree_set(-10_000_000_000i64..10_000_000_000, 1..6),
            prop::collection::vec(bar, 6),
        )
            .prop_map(|(times, bars)| {
                times
                    .into_iter()
                    .zip(bars)
                    .map(|(timestamp, (low, high, open, close, volume))| Bar {
                        timestamp,
                        open,
                        high,
                        low,
                        close,
                        volume,
                    })
                    .collect()
            })
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_parse_or_fail_without_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let mut with_header = b"ticker,timestamp,open,high,low,close,volume,label\n".to_vec();
            with_header.extend_from_slice(&bytes);
            for input in [&bytes, &with_header] {
                if let Ok(series) = read_csv(input) {
                    let _ = crate::dataset::feature_matrix(&series);
                }
            }
        }

        #[test]
        fn written_series_read_back_unchanged(
            tickers in prop::collection::btree_set("[A-Za-z0-9][A-Za-z0-9 ,\"'.^=_-]{0,6}[A-Za-z0-9\"]", 1..4),
            bars in prop::collection::vec(bars(), 4),
            labelled in any::<bool>(),
        ) {
            let series: Vec<Series> = tickers
                .into_iter()
                .zip(bars)
                .map(|(ticker, bars)| Series {
                    labels: if labelled { bars.iter().map(|b| b.timestamp % 2 == 0).collect() } else { Vec::new() },
                    ticker,
                    bars,
                })
                .collect();
            let bytes = write_csv(&series);
            let back = read_csv(&bytes).unwrap();
            prop_assert_eq!(back.len(), series.len());
            for (a, b) in series.iter().zip(&back) {
                prop_assert_eq!(&a.ticker, &b.ticker);
                prop_assert_eq!(&a.bars, &b.bars);
                if labelled {
                    prop_assert_eq!(&a.labels, &b.labels);
                }
            }
            prop_assert_eq!(write_csv(&back), bytes);
        }
    }

    #[test]
    fn accepts_rfc3339_any_column_order_and_no_label() {
        let csv = "close,volume,ticker,timestamp,open,high,low\n\
                   10,5,B,2024-01-01T00:01:00Z,10,11,9\n\
                   10,5,A,1704067200,10,11,9\n\
                   11,5,B,2024-01-01T00:00:00+00:00,10,11,9\n";
        let s = read_csv(csv.as_bytes()).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].ticker, "A");
        assert_eq!(s[1].bars[0].timestamp, 1_704_067_200);
        assert_eq!(s[1].bars[0].close, 11.0);
        assert!(s[1].labels.is_empty());
    }

    fn error_of(body: &str) -> CsvError {
        let csv = format!(
            "ticker,timestamp,open,high,low,close,volume,label\nA,1,10,11,9,10,5,false\n{body}\n"
        );
        read_csv(csv.as_bytes()).unwrap_err()
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = error_of("A,2,10,11,9,ten,5,false");
        assert_eq!((e.line, e.column.as_str()), (3, "close"));
        assert!(e.message.contains("`ten`"), "{e}");
        let e = error_of("A,2,10,11,9,10,-5,false");
        assert_eq!((e.line, e.column.as_str()), (3, "volume"));
        let e = error_of("A,2,10,8,9,10,5,false");
        assert_eq!((e.line, e.column.as_str()), (3, "high"));
        let e = error_of("A,1,10,11,9,10,5,false");
        assert_eq!((e.line, e.column.as_str()), (3, "timestamp"));
        assert!(e.message.contains("line 2"), "{e}");
        let e = error_of("A,yesterday,10,11,9,10,5,false");
        assert_eq!(e.column, "timestamp");
        let e = error_of("A,2,10,11,9,10,5,maybe");
        assert_eq!(e.column, "label");
        let e = error_of("A,2,10,11,9,NaN,5,false");
        assert_eq!(e.column, "close");
        let e = error_of("A,2,10,11");
        assert_eq!(e.line, 3);
        let e = read_csv(b"ticker,timestamp,open,high,low,close\nA,1,1,1,1,1\n").unwrap_err();
        assert_eq!((e.line, e.column.as_str()), (1, "volume"));
    }
}
