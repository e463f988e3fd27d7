//! Supervised SimCSE's training data: NLI as CSV with a header `sent0,sent1[,hard_neg]`
//! (premise, entailment, contradiction), fields quoted as RFC 4180 says.

use std::path::Path;

use contrastive_core::run::csv_records::{is_blank, parse_csv};

use super::{read_text, DataError};

/// A premise, a sentence it entails (the positive) and, optionally, one it contradicts (the
/// hard negative).
#[derive(Debug, Clone, PartialEq)]
pub struct NliTriplet {
    pub anchor: String,
    pub positive: String,
    pub hard_negative: Option<String>,
}

/// Reads an NLI CSV (SimCSE's `nli_for_simcse.csv` format; gzip accepted). Without a
/// `hard_neg` column the triplets have no hard negative.
pub fn read_nli(path: &Path) -> Result<Vec<NliTriplet>, DataError> {
    let text = read_text(path)?;
    let row_error = |line: usize, reason: String| DataError::Row {
        path: path.into(),
        line,
        reason,
    };
    let mut records = parse_csv(&text)
        .map_err(|(line, reason)| row_error(line, reason))?
        .into_iter();
    let (_, header) = records.next().ok_or_else(|| DataError::Invalid {
        path: path.into(),
        reason: "empty file: expected a header `sent0,sent1,hard_neg`".into(),
    })?;
    let with_negatives = match header.iter().map(|h| h.trim()).collect::<Vec<_>>()[..] {
        ["sent0", "sent1", "hard_neg"] => true,
        ["sent0", "sent1"] => false,
        _ => {
            return Err(row_error(
                1,
                format!("header {header:?}, expected `sent0,sent1,hard_neg` or `sent0,sent1`"),
            ))
        }
    };
    let columns = if with_negatives { 3 } else { 2 };
    let mut triplets = Vec::new();
    for (line, mut fields) in records {
        if is_blank(&fields) {
            continue;
        }
        if fields.len() != columns {
            return Err(row_error(
                line,
                format!("{} fields, expected {columns}", fields.len()),
            ));
        }
        if let Some(i) = fields.iter().position(|f| f.trim().is_empty()) {
            return Err(row_error(line, format!("field {} is empty", header[i])));
        }
        let hard_negative = with_negatives.then(|| fields.pop().unwrap_or_default());
        let positive = fields.pop().unwrap_or_default();
        let anchor = fields.pop().unwrap_or_default();
        triplets.push(NliTriplet {
            anchor,
            positive,
            hard_negative,
        });
    }
    if triplets.is_empty() {
        return Err(DataError::Invalid {
            path: path.into(),
            reason: "a header but no rows".into(),
        });
    }
    Ok(triplets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::tests::TempFile;

    #[test]
    fn triplets_are_read_from_gzipped_csv() {
        let file = TempFile::gzip(
            "nli.csv.gz",
            "sent0,sent1,hard_neg\nA man sleeps.,A person rests.,\"A man runs, fast.\"\n",
        );
        assert_eq!(
            read_nli(&file.0).unwrap(),
            vec![NliTriplet {
                anchor: "A man sleeps.".into(),
                positive: "A person rests.".into(),
                hard_negative: Some("A man runs, fast.".into()),
            }]
        );
        let pairs = TempFile::new("pairs.csv", b"sent0,sent1\np,q\n");
        assert_eq!(read_nli(&pairs.0).unwrap()[0].hard_negative, None);
    }

    #[test]
    fn malformed_rows_name_file_and_line() {
        for (name, text, expected) in [
            (
                "cols.csv",
                "sent0,sent1,hard_neg\na,b,c\na,b\n",
                "cols.csv:3: 2 fields, expected 3",
            ),
            (
                "quote.csv",
                "sent0,sent1,hard_neg\na,b,c\n\"open,b,c\n",
                "quote.csv:3: a quoted field is never closed",
            ),
            ("header.csv", "premise,hypothesis\n", "header.csv:1: header"),
            (
                "blank.csv",
                "sent0,sent1,hard_neg\na, ,c\n",
                "blank.csv:2: field sent1 is empty",
            ),
            ("rows.csv", "sent0,sent1,hard_neg\n", "a header but no rows"),
        ] {
            let file = TempFile::new(name, text.as_bytes());
            let message = read_nli(&file.0).unwrap_err().to_string();
            assert!(message.contains(expected), "{name}: {message}");
        }
    }
}
