//! Key types: dates, decimals, UUID strings, integer widths that differ
//! between the sides, and key types that cannot be compared.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Date32Array, Decimal128Array, Float64Array, Int32Array, Int64Array, StringArray,
};
use arrow::datatypes::{Field, Schema};
use arrow::record_batch::RecordBatch;
use recon::compare::Status;
use recon::source::MemorySource;
use recon::{Error, Selection, Spec};

fn source(name: &str, columns: Vec<(&str, ArrayRef)>) -> MemorySource {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ));
    let batch =
        RecordBatch::try_new(schema.clone(), columns.into_iter().map(|c| c.1).collect()).unwrap();
    // Two partitions, so both parallel paths run.
    let (a, b) = (
        batch.slice(0, batch.num_rows() / 2),
        batch.slice(
            batch.num_rows() / 2,
            batch.num_rows() - batch.num_rows() / 2,
        ),
    );
    MemorySource::new(name, schema, vec![vec![a], vec![b]]).unwrap()
}

fn spec(key: &[&str]) -> Spec {
    Spec {
        selection: Selection {
            key: key.iter().map(|k| k.to_string()).collect(),
            ..Selection::default()
        },
        leaf_rows: 2,
        ..Spec::default()
    }
}

fn statuses(
    left: &MemorySource,
    right: &MemorySource,
    key: &[&str],
) -> Vec<(Status, serde_json::Value)> {
    let outcome = recon::diff(left, right, &spec(key)).unwrap();
    outcome
        .report
        .diffs
        .iter()
        .map(|d| (d.status, serde_json::Value::Object(d.key.clone())))
        .collect()
}

#[test]
fn date_and_decimal_composite_keys() {
    let dates = |v: Vec<i32>| Arc::new(Date32Array::from(v)) as ArrayRef;
    let decimals = |v: Vec<i128>, s: i8| {
        Arc::new(
            Decimal128Array::from(v)
                .with_precision_and_scale(12, s)
                .unwrap(),
        ) as ArrayRef
    };
    let left = source(
        "l",
        vec![
            ("day", dates(vec![19_000, 19_000, 19_001, 19_002])),
            ("bucket", decimals(vec![150, 250, 150, 150], 2)),
            ("v", Arc::new(Int32Array::from(vec![1, 2, 3, 4]))),
        ],
    );
    // Same keys at another decimal scale; one changed value, one key replaced.
    let right = source(
        "r",
        vec![
            ("day", dates(vec![19_000, 19_000, 19_001, 19_003])),
            ("bucket", decimals(vec![15, 25, 15, 15], 1)),
            ("v", Arc::new(Int32Array::from(vec![1, 2, 30, 4]))),
        ],
    );
    let got: Vec<(Status, String, f64)> = statuses(&left, &right, &["day", "bucket"])
        .into_iter()
        .map(|(s, k)| {
            (
                s,
                k["day"].as_str().unwrap().to_string(),
                k["bucket"].as_f64().unwrap(),
            )
        })
        .collect();
    let expected = [
        (Status::Changed, "2022-01-09", 1.5),
        (Status::OnlyLeft, "2022-01-10", 1.5),
        (Status::OnlyRight, "2022-01-11", 1.5),
    ];
    assert_eq!(
        got,
        expected.map(|(s, d, b)| (s, d.to_string(), b)).to_vec()
    );
}

#[test]
fn uuid_string_keys_and_integer_widths() {
    let ids = [
        "0b9e7d1c-6f1e-4b51-9a57-3c2f1d7e8a01",
        "5f0c2a3e-1111-4c2b-8d3e-000000000002",
        "ffffffff-ffff-4fff-bfff-ffffffffffff",
    ];
    let left = source(
        "l",
        vec![
            ("id", Arc::new(StringArray::from(ids.to_vec())) as ArrayRef),
            ("n", Arc::new(Int32Array::from(vec![1, 2, 3]))),
        ],
    );
    let right = source(
        "r",
        vec![
            (
                "id",
                Arc::new(StringArray::from(vec![ids[2], ids[0], ids[1]])) as ArrayRef,
            ),
            ("n", Arc::new(Int64Array::from(vec![3, 1, 20]))),
        ],
    );
    assert_eq!(
        statuses(&left, &right, &["id"]),
        vec![(Status::Changed, serde_json::json!({"id": ids[1]}))]
    );

    // Int32 keys on one side, Int64 on the other.
    let l = source(
        "l",
        vec![("k", Arc::new(Int32Array::from(vec![1, 2, 3])) as ArrayRef)],
    );
    let r = source(
        "r",
        vec![("k", Arc::new(Int64Array::from(vec![3, 2, 4])) as ArrayRef)],
    );
    let got = statuses(&l, &r, &["k"]);
    assert_eq!(
        got,
        vec![
            (Status::OnlyLeft, serde_json::json!({"k": 1})),
            (Status::OnlyRight, serde_json::json!({"k": 4}))
        ]
    );
}

#[test]
fn keys_that_cannot_be_compared_are_errors() {
    let l = source(
        "l",
        vec![("k", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef)],
    );
    let text = source(
        "r",
        vec![("k", Arc::new(StringArray::from(vec!["1", "2"])) as ArrayRef)],
    );
    let float = source(
        "r",
        vec![(
            "k",
            Arc::new(Float64Array::from(vec![1.0, 2.0])) as ArrayRef,
        )],
    );
    for right in [&text, &float] {
        match recon::diff(&l, right, &spec(&["k"])) {
            Err(Error::Key(message)) => assert!(message.contains("k"), "{message}"),
            Err(other) => panic!("expected a key error, got {other}"),
            Ok(_) => panic!("expected a key error"),
        }
    }
    match recon::diff(&l, &l, &spec(&["missing"])) {
        Err(Error::Key(message)) => assert!(message.contains("missing"), "{message}"),
        _ => panic!("expected a key error for an unknown column"),
    }
}
