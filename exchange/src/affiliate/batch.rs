//! Order files, for advertisers who export rather than call: `POST /orders/batch` takes
//! JSON lines (one order report per line, as `POST /orders` takes them) or CSV (one row per
//! order line, [`CSV_COLUMNS`]; consecutive rows of one `order_id` are one order),
//! authenticated like a single report (the HMAC covers the whole file). Every order is
//! applied on its own (its own transaction: one bad order refuses itself, not the file),
//! and the answer lists each one's outcome, in file order.

use exchange_core::orders::{Buyer, LineReport, OrderReport};

/// Most orders in one file.
pub const MAX_BATCH_ORDERS: usize = 10_000;

/// The CSV header (the columns may come in any order; the optional ones may be missing).
pub const CSV_COLUMNS: [&str; 17] = [
    "order_id",
    "currency",
    "order_time",
    "click_id",
    "user_key",
    "status",
    "line_id",
    "sku",
    "quantity",
    "price",
    "category",
    "refunded_quantity",
    "refunded_amount",
    "buyer_account",
    "buyer_device",
    "buyer_ip",
    "new_customer",
];

/// One order of a file: where it starts (1-based line or row), and the report or why it
/// could not be read.
#[derive(Debug)]
pub struct FileOrder {
    /// Line (JSON lines) or row (CSV, the header is row 1) of the order's first line.
    pub line: usize,
    /// The report, or (field, message).
    pub report: Result<OrderReport, (String, String)>,
}

/// The orders of a JSON-lines file (blank lines skipped).
pub fn json_lines(text: &str) -> Vec<FileOrder> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            let mut deserializer = serde_json::Deserializer::from_str(line);
            let report = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
                let field = e.path().to_string();
                (field, e.into_inner().to_string())
            });
            FileOrder {
                line: i + 1,
                report,
            }
        })
        .collect()
}

/// The orders of a CSV file: consecutive rows of one `order_id` make one order. A file
/// whose header lacks a required column is one error at row 1.
pub fn csv_rows(text: &str) -> Vec<FileOrder> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(str::to_owned).collect(),
        Err(e) => return vec![failed(1, "header", &e.to_string())],
    };
    let at = |name: &str| header.iter().position(|h| h == name);
    let required = [
        "order_id",
        "currency",
        "order_time",
        "line_id",
        "sku",
        "quantity",
        "price",
    ];
    if let Some(missing) = required.iter().find(|c| at(c).is_none()) {
        return vec![failed(1, "header", &format!("no {missing} column"))];
    }
    if let Some(unknown) = header.iter().find(|h| !CSV_COLUMNS.contains(&h.as_str())) {
        return vec![failed(1, "header", &format!("unknown column {unknown}"))];
    }
    let mut out: Vec<FileOrder> = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let line = i + 2;
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                out.push(failed(line, "row", &e.to_string()));
                continue;
            }
        };
        let get = |name: &str| {
            at(name)
                .and_then(|i| row.get(i))
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let order_id = get("order_id").unwrap_or_default();
        let parsed = csv_line(&get);
        // A row of the order the previous row started joins it.
        if let Some(FileOrder {
            report: Ok(report), ..
        }) = out.last_mut()
        {
            if report.order_id == order_id {
                match parsed {
                    Ok(line_report) => report.lines.push(line_report),
                    Err((field, message)) => {
                        let start = out.last().map_or(line, |o| o.line);
                        if let Some(last) = out.last_mut() {
                            *last = failed(start, &field, &format!("row {line}: {message}"));
                        }
                    }
                }
                continue;
            }
        }
        let report = parsed.and_then(|line_report| {
            let number = |name: &str| -> Result<Option<i64>, (String, String)> {
                get(name)
                    .map(|v| {
                        v.parse::<i64>()
                            .map_err(|_| (name.to_owned(), format!("{v:?} is not a number")))
                    })
                    .transpose()
            };
            Ok(OrderReport {
                order_id: order_id.clone(),
                currency: get("currency").unwrap_or_default(),
                order_time: number("order_time")?.unwrap_or_default(),
                click_id: get("click_id"),
                user_key: get("user_key"),
                status: None,
                buyer: Buyer {
                    account: get("buyer_account"),
                    device: get("buyer_device"),
                    ip: get("buyer_ip"),
                    new_customer: match get("new_customer").as_deref() {
                        None | Some("") => None,
                        Some("1" | "true") => Some(true),
                        Some("0" | "false") => Some(false),
                        Some(other) => {
                            return Err((
                                "new_customer".to_owned(),
                                format!("{other:?} is not true/false/1/0"),
                            ))
                        }
                    },
                },
                lines: vec![line_report],
            })
        });
        out.push(FileOrder { line, report });
    }
    out
}

fn failed(line: usize, field: &str, message: &str) -> FileOrder {
    FileOrder {
        line,
        report: Err((field.to_owned(), message.to_owned())),
    }
}

/// One CSV row's order line.
fn csv_line(get: &dyn Fn(&str) -> Option<String>) -> Result<LineReport, (String, String)> {
    fn parse<T: std::str::FromStr>(
        name: &str,
        value: Option<String>,
    ) -> Result<Option<T>, (String, String)> {
        value
            .map(|v| {
                v.parse::<T>()
                    .map_err(|_| (name.to_owned(), format!("{v:?} is not a number")))
            })
            .transpose()
    }
    Ok(LineReport {
        line_id: get("line_id").unwrap_or_default(),
        sku: get("sku").unwrap_or_default(),
        quantity: parse("quantity", get("quantity"))?.unwrap_or_default(),
        price: parse("price", get("price"))?.unwrap_or(-1.0),
        category: get("category"),
        status: get("status"),
        refunded_quantity: parse("refunded_quantity", get("refunded_quantity"))?,
        refunded_amount: parse("refunded_amount", get("refunded_amount"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_of_one_order_make_one_report_and_bad_rows_name_their_place() {
        let text = "order_id,currency,order_time,click_id,line_id,sku,quantity,price,status,refunded_quantity\n\
                    A-1,CNY,1780000000,c1,1,SKU-1,2,19.9,,\n\
                    A-1,CNY,1780000000,c1,2,SKU-2,1,5,refunded,1\n\
                    A-2,CNY,1780000100,,1,SKU-3,x,5,,\n\
                    A-3,USD,1780000200,c3,1,SKU-4,1,7.5,confirmed,\n";
        let orders = csv_rows(text);
        assert_eq!(orders.len(), 3);
        let first = orders[0].report.as_ref().expect("A-1");
        assert_eq!((orders[0].line, first.lines.len()), (2, 2));
        assert_eq!(first.click_id.as_deref(), Some("c1"));
        assert_eq!(first.lines[1].status.as_deref(), Some("refunded"));
        assert_eq!(first.lines[1].refunded_quantity, Some(1));
        let (field, message) = orders[1].report.as_ref().expect_err("A-2");
        assert_eq!(
            (orders[1].line, field.as_str()),
            (4, "quantity"),
            "{message}"
        );
        assert_eq!(orders[2].report.as_ref().expect("A-3").currency, "USD");
    }

    #[test]
    fn a_csv_header_without_a_required_column_or_with_an_unknown_one_is_refused() {
        let missing = csv_rows("order_id,currency,line_id,sku,quantity,price\nA,CNY,1,S,1,1\n");
        assert_eq!(missing.len(), 1);
        assert!(missing[0]
            .report
            .as_ref()
            .expect_err("no time")
            .1
            .contains("order_time"));
        let unknown = csv_rows(
            "order_id,currency,order_time,line_id,sku,quantity,price,colour\nA,CNY,1,1,S,1,1,red\n",
        );
        assert!(unknown[0]
            .report
            .as_ref()
            .expect_err("colour")
            .1
            .contains("colour"));
    }

    #[test]
    fn json_lines_are_one_report_each_and_errors_name_line_and_field() {
        let text = r#"{"order_id":"A","currency":"CNY","order_time":1,"lines":[]}

{"order_id":"B","currency":"CNY","order_time":"soon","lines":[]}
"#;
        let orders = json_lines(text);
        assert_eq!(orders.len(), 2);
        assert!(orders[0].report.is_ok());
        assert_eq!(orders[1].line, 3);
        assert_eq!(orders[1].report.as_ref().expect_err("B").0, "order_time");
    }
}
