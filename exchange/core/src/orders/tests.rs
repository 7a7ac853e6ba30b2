use super::*;

const NOW: i64 = 1_780_000_000;

fn report(json: &str) -> Result<OrderUpdate, ReportError> {
    let report: OrderReport = serde_json::from_str(json).expect("shape");
    report.validate(NOW)
}

fn line(reported: Reported, refunded_micros: i64) -> LineUpdate {
    LineUpdate {
        line_id: "1".into(),
        sku: "s".into(),
        category: None,
        quantity: 2,
        unit_price_micros: 50_000_000,
        reported,
        refunded_micros,
    }
}

fn applied(stored: Option<Line>, update: &LineUpdate) -> Line {
    match transition(stored.as_ref(), update) {
        Transition::To(line) => line,
        Transition::Unchanged(why) => panic!("unchanged: {why}"),
    }
}

#[test]
fn a_report_is_read_in_micros_and_refunds_as_totals() {
    let update = report(
        r#"{"order_id":"JD-1","currency":"CNY","order_time":1779990000,"click_id":"c1",
            "lines":[{"line_id":"a","sku":"S1","quantity":3,"price":19.9},
                     {"line_id":"b","sku":"S2","quantity":2,"price":5,"status":"refunded","refunded_quantity":1},
                     {"line_id":"c","sku":"S3","quantity":1,"price":7,"status":"refunded"}]}"#,
    )
    .expect("valid");
    assert_eq!(update.lines[0].unit_price_micros, 19_900_000);
    assert_eq!(update.lines[0].reported, Reported::Paid);
    assert_eq!(update.lines[1].refunded_micros, 5_000_000);
    assert_eq!(
        update.lines[2].refunded_micros, 7_000_000,
        "no amount: all of it"
    );
}

#[test]
fn a_bad_report_names_its_field() {
    let cases = [
        (
            r#"{"order_id":"","currency":"CNY","order_time":1779990000,"lines":[{"line_id":"a","sku":"s","quantity":1,"price":1}]}"#,
            "order_id",
        ),
        (
            r#"{"order_id":"o","currency":"cny","order_time":1779990000,"lines":[{"line_id":"a","sku":"s","quantity":1,"price":1}]}"#,
            "currency",
        ),
        (
            r#"{"order_id":"o","currency":"CNY","order_time":1790000000,"lines":[{"line_id":"a","sku":"s","quantity":1,"price":1}]}"#,
            "order_time",
        ),
        (
            r#"{"order_id":"o","currency":"CNY","order_time":1779990000,"lines":[]}"#,
            "lines",
        ),
        (
            r#"{"order_id":"o","currency":"CNY","order_time":1779990000,"lines":[{"line_id":"a","sku":"s","quantity":0,"price":1}]}"#,
            "lines[0].quantity",
        ),
        (
            r#"{"order_id":"o","currency":"CNY","order_time":1779990000,"lines":[{"line_id":"a","sku":"s","quantity":1,"price":-1}]}"#,
            "lines[0].price",
        ),
        (
            r#"{"order_id":"o","currency":"CNY","order_time":1779990000,"lines":[{"line_id":"a","sku":"s","quantity":1,"price":1},{"line_id":"a","sku":"t","quantity":1,"price":1}]}"#,
            "lines[1].line_id",
        ),
        (
            r#"{"order_id":"o","currency":"CNY","order_time":1779990000,"lines":[{"line_id":"a","sku":"s","quantity":1,"price":1,"refunded_amount":2}]}"#,
            "lines[0].refunded_amount",
        ),
        (
            r#"{"order_id":"o","currency":"CNY","order_time":1779990000,"lines":[{"line_id":"a","sku":"s","quantity":1,"price":1,"refunded_quantity":2}]}"#,
            "lines[0].refunded_quantity",
        ),
        (
            r#"{"order_id":"o","currency":"CNY","order_time":1779990000,"status":"shipped","lines":[{"line_id":"a","sku":"s","quantity":1,"price":1}]}"#,
            "status",
        ),
    ];
    for (json, field) in cases {
        assert_eq!(report(json).expect_err(json).field, field, "{json}");
    }
}

#[test]
fn lines_move_forward_and_the_same_update_twice_changes_nothing() {
    let pending = applied(None, &line(Reported::Paid, 0));
    assert_eq!(pending.state, LineState::Pending);
    assert_eq!(pending.value_micros(), 100_000_000);
    assert_eq!(
        transition(Some(&pending), &line(Reported::Paid, 0)),
        Transition::Unchanged("same")
    );
    let confirmed = applied(Some(pending), &line(Reported::Confirmed, 0));
    assert_eq!(confirmed.state, LineState::Confirmed);
    assert_eq!(
        transition(Some(&confirmed), &line(Reported::Confirmed, 0)),
        Transition::Unchanged("same")
    );
    // A late "paid" does not move a confirmed line back.
    assert_eq!(
        transition(Some(&confirmed), &line(Reported::Paid, 0)),
        Transition::Unchanged("same")
    );
}

#[test]
fn partial_refunds_are_totals_and_a_late_smaller_total_changes_nothing() {
    let confirmed = applied(None, &line(Reported::Confirmed, 0));
    let partly = applied(Some(confirmed), &line(Reported::Refunded, 30_000_000));
    assert_eq!(partly.state, LineState::Confirmed);
    assert_eq!(partly.value_micros(), 70_000_000);
    // The total of an earlier refund, arriving late.
    assert_eq!(
        transition(Some(&partly), &line(Reported::Refunded, 10_000_000)),
        Transition::Unchanged("same")
    );
    let whole = applied(Some(partly), &line(Reported::Refunded, 100_000_000));
    assert_eq!(whole.state, LineState::Refunded);
    assert_eq!(whole.value_micros(), 0);
    assert_eq!(
        transition(Some(&whole), &line(Reported::Confirmed, 0)),
        Transition::Unchanged("final")
    );
}

#[test]
fn out_of_order_updates_land_where_they_should() {
    // A refund before any confirmation: the line is created refunded.
    let refunded_first = applied(None, &line(Reported::Refunded, 100_000_000));
    assert_eq!(refunded_first.state, LineState::Refunded);
    // Confirmation reported without the paid report.
    assert_eq!(
        applied(None, &line(Reported::Confirmed, 0)).state,
        LineState::Confirmed
    );
    // A cancellation after a partial refund ends it at nothing.
    let partly = applied(None, &line(Reported::Refunded, 20_000_000));
    assert_eq!(partly.state, LineState::Pending);
    let cancelled = applied(Some(partly), &line(Reported::Cancelled, 0));
    assert_eq!(cancelled.state, LineState::Cancelled);
    assert_eq!(cancelled.value_micros(), 0);
    // A locked line cannot be cancelled (it is settled), only refunded.
    let locked = Line {
        state: LineState::Locked,
        ..applied(None, &line(Reported::Confirmed, 0))
    };
    assert_eq!(
        transition(Some(&locked), &line(Reported::Cancelled, 0)),
        Transition::Unchanged("locked")
    );
    assert_eq!(
        applied(Some(locked), &line(Reported::Refunded, 50_000_000)).value_micros(),
        50_000_000
    );
}

#[test]
fn attribution_needs_the_advertisers_valid_click_within_the_window() {
    let click = |advertiser, at_ms, valid| {
        Some(ClickForOrder {
            advertiser,
            at_ms,
            valid,
        })
    };
    let clicked = NOW * 1000;
    assert_eq!(
        attribute(click("jd", clicked, true), "jd", NOW + 3600, 86_400),
        Ok(())
    );
    assert_eq!(
        attribute(None, "jd", NOW, 86_400),
        Err(Unattributed::UnknownClick)
    );
    assert_eq!(
        attribute(click("tb", clicked, true), "jd", NOW, 86_400),
        Err(Unattributed::OtherAdvertiser)
    );
    assert_eq!(
        attribute(click("jd", clicked, false), "jd", NOW, 86_400),
        Err(Unattributed::ClickInvalid)
    );
    assert_eq!(
        attribute(click("jd", clicked, true), "jd", NOW + 86_401, 86_400),
        Err(Unattributed::Expired)
    );
    assert_eq!(
        attribute(click("jd", clicked, true), "jd", NOW - 61, 86_400),
        Err(Unattributed::BeforeClick)
    );
    // Clocks of two systems differ a little.
    assert_eq!(
        attribute(click("jd", clicked, true), "jd", NOW - 30, 86_400),
        Ok(())
    );
}

#[test]
fn commission_is_the_rate_times_the_value() {
    assert_eq!(commission_micros(100_000_000, 0.14), 14_000_000);
    assert_eq!(commission_micros(100_000_000, f64::NAN), 0);
    assert_eq!(commission_micros(100_000_000, 3.0), 100_000_000);
}
