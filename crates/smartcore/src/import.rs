//! Reading a member CSV (`name,email[,role]`) as a stream of rows, for `member import`.
//! A header row is recognised and skipped; blank lines are ignored.

use smartcore_app::MemberRow;
use std::io::Read;

/// Rows of the file, one at a time; a row that cannot be read becomes `Err((line, reason))`.
pub fn rows(reader: impl Read) -> impl Iterator<Item = Result<MemberRow, (u64, String)>> {
    let csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(reader);
    let mut last_line = 0;
    csv.into_records().filter_map(move |record| {
        // The file's own line (blank lines are skipped by the reader, and a quoted field may
        // span lines): where the record starts.
        let position = match &record {
            Ok(r) => r.position(),
            Err(e) => e.position(),
        };
        let line = position.map_or(last_line + 1, csv::Position::line);
        last_line = line;
        let record = match record {
            Ok(r) => r,
            Err(e) => return Some(Err((line, format!("unreadable row: {e}")))),
        };
        if record.iter().all(str::is_empty) {
            return None;
        }
        if line == 1
            && record
                .get(1)
                .is_some_and(|f| f.eq_ignore_ascii_case("email"))
        {
            return None;
        }
        if record.len() < 2 || record.len() > 3 {
            return Some(Err((
                line,
                format!(
                    "expected name,email[,role] but found {} fields",
                    record.len()
                ),
            )));
        }
        Some(Ok(MemberRow {
            line,
            name: record[0].to_owned(),
            email: record[1].to_owned(),
            role: record.get(2).map(str::to_owned),
        }))
    })
}
