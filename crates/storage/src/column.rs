//! Enum columns read through their one mapping (`smartcore_domain::column_text!`), for the
//! records with an optional enum column: the `FromRow` derive reads a required one with
//! `#[sqlx(try_from = "String")]`, but has no such way for a nullable one.

use smartcore_domain::UnknownText;
use sqlx::Row;
use sqlx::any::AnyRow;
use std::str::FromStr;

/// A nullable enum column: `NULL`, or one of the enum's texts (any other text is an error).
pub(crate) fn optional<T>(row: &AnyRow, name: &str) -> Result<Option<T>, sqlx::Error>
where
    T: FromStr<Err = UnknownText>,
{
    row.try_get::<Option<String>, _>(name)?
        .map(|text| text.parse().map_err(|e| decode_error(name, e)))
        .transpose()
}

/// A required enum column: one of the enum's texts.
pub(crate) fn required<T>(row: &AnyRow, name: &str) -> Result<T, sqlx::Error>
where
    T: FromStr<Err = UnknownText>,
{
    row.try_get::<String, _>(name)?
        .parse()
        .map_err(|e| decode_error(name, e))
}

fn decode_error(name: &str, e: UnknownText) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: name.to_owned(),
        source: Box::new(e),
    }
}
