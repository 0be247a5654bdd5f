//! Multi-row statements: many rows per round trip, for the work that comes in pages (the
//! reminder sweep, the member import; the benchmarks' fixtures too). Only the number of rows varies between statements of one kind, so the
//! SQL is generated from a fixed row template, never from data.

use sqlx::AssertSqlSafe;

/// Rows per statement: 100 rows of at most 11 columns stay far below both databases' limits
/// on bound parameters (SQLite 32,766; PostgreSQL 65,535).
pub(crate) const ROWS_PER_STATEMENT: usize = 100;

/// `head`, then `rows` copies of `row` joined by commas, then `tail`. Each `?` in `row` becomes
/// the next numbered placeholder, counting on from `$shared` (the statement's own shared
/// parameters come first, as `$1` … `$shared`).
pub fn statement(
    head: &str,
    row: &str,
    rows: usize,
    shared: usize,
    tail: &str,
) -> AssertSqlSafe<String> {
    let mut next = shared;
    let mut sql = String::with_capacity(head.len() + tail.len() + rows * (row.len() + 24));
    sql.push_str(head);
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        for (j, part) in row.split('?').enumerate() {
            if j > 0 {
                next += 1;
                sql.push('$');
                sql.push_str(&next.to_string());
            }
            sql.push_str(part);
        }
    }
    sql.push_str(tail);
    AssertSqlSafe(sql)
}

/// `head`, then `rows` copies of `row` joined by commas, then `tail`, every `?` kept as it is:
/// SQLite's anonymous placeholders, bound in the order they stand (SQLite only: PostgreSQL
/// numbers its placeholders). For the large statements of an SQLite import: binding a numbered
/// placeholder (`$7`) makes SQLite look its number up in a list of every parameter's name, and
/// with a thousand parameters a statement those look-ups were a quarter of the import (perf).
pub(crate) fn anonymous(head: &str, row: &str, rows: usize, tail: &str) -> AssertSqlSafe<String> {
    AssertSqlSafe(format!("{head}{}{tail}", vec![row; rows].join(", ")))
}

/// `$first, $first+1, …` for `n` parameters (`first` at least 1), for an `IN (…)` list.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    statement("", "?", n, first - 1, "").0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_count_on_after_the_shared_ones() {
        let AssertSqlSafe(sql) = statement("INSERT INTO t VALUES ", "(?, 'x', ?, $1)", 2, 1, ";");
        assert_eq!(
            sql,
            "INSERT INTO t VALUES ($2, 'x', $3, $1), ($4, 'x', $5, $1);"
        );
        assert_eq!(placeholders(3, 3), "$3, $4, $5");
        assert_eq!(
            anonymous("INSERT INTO t VALUES ", "(?, ?)", 2, ";").0,
            "INSERT INTO t VALUES (?, ?), (?, ?);"
        );
        assert_eq!(placeholders(1, 0), "");
    }
}
