//! Semantic textual similarity sets: sentence pairs with a gold similarity score. Read from the
//! formats they are distributed in — STS-B (`sts-{train,dev,test}.csv`), SICK-R (`SICK*.txt`)
//! and STS12–16 as SentEval ships them (`STS.input.*.txt` + `STS.gs.*.txt`).

use std::path::{Path, PathBuf};

use contrastive_core::run::csv_records::{is_blank, parse_tsv};

use super::{read_text, DataError};

/// Two sentences and their gold similarity.
#[derive(Debug, Clone, PartialEq)]
pub struct StsPair {
    pub first: String,
    pub second: String,
    pub score: f64,
}

/// A named evaluation set, e.g. "STS-B dev" or "STS12" (all its topics together: SentEval's
/// "all" setting).
#[derive(Debug, Clone)]
pub struct StsSet {
    pub name: String,
    pub pairs: Vec<StsPair>,
}

fn row_error(path: &Path, line: usize, reason: String) -> DataError {
    DataError::Row {
        path: path.into(),
        line,
        reason,
    }
}

fn parse_score(path: &Path, line: usize, field: &str) -> Result<f64, DataError> {
    field
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite())
        .ok_or_else(|| row_error(path, line, format!("score `{field}` is not a number")))
}

/// STS-B: tab-separated `genre, file, year, id, score, sentence1, sentence2` with no quoting;
/// trailing extra columns (attributions in the original release) are ignored.
pub fn read_stsb(path: &Path) -> Result<Vec<StsPair>, DataError> {
    parse_stsb(path, &read_text(path)?)
}

/// [`read_stsb`] on text already read (`path` names it in errors).
pub fn parse_stsb(path: &Path, text: &str) -> Result<Vec<StsPair>, DataError> {
    let mut pairs = Vec::new();
    for (line, fields) in parse_tsv(text) {
        if is_blank(&fields) {
            continue;
        }
        if fields.len() < 7 {
            return Err(row_error(
                path,
                line,
                format!("{} tab-separated fields, expected at least 7", fields.len()),
            ));
        }
        pairs.push(StsPair {
            score: parse_score(path, line, &fields[4])?,
            first: fields[5].clone(),
            second: fields[6].clone(),
        });
    }
    non_empty(path, pairs)
}

/// SICK-R: a tab-separated file with a header naming `sentence_A`, `sentence_B` and
/// `relatedness_score`. In the full `SICK.txt`, a `SemEval_set` column selects the `TEST` rows.
pub fn read_sick(path: &Path) -> Result<Vec<StsPair>, DataError> {
    let mut records = parse_tsv(&read_text(path)?).into_iter();
    let header = records.next().map(|(_, h)| h).unwrap_or_default();
    let column = |name: &str| header.iter().position(|h| h.trim() == name);
    let (Some(a), Some(b), Some(score)) = (
        column("sentence_A"),
        column("sentence_B"),
        column("relatedness_score"),
    ) else {
        return Err(row_error(
            path,
            1,
            "header lacks sentence_A, sentence_B or relatedness_score".into(),
        ));
    };
    let split = column("SemEval_set");
    let mut pairs = Vec::new();
    for (line, fields) in records {
        if is_blank(&fields) {
            continue;
        }
        if fields.len() < header.len() {
            return Err(row_error(
                path,
                line,
                format!("{} fields, the header has {}", fields.len(), header.len()),
            ));
        }
        if split.is_some_and(|s| fields[s].trim() != "TEST") {
            continue;
        }
        pairs.push(StsPair {
            score: parse_score(path, line, &fields[score])?,
            first: fields[a].clone(),
            second: fields[b].clone(),
        });
    }
    non_empty(path, pairs)
}

/// One SentEval STS12–16 topic: `STS.input.T.txt` (two tab-separated sentences per line) with
/// its gold file `STS.gs.T.txt` (a score per line; pairs with an empty score are not rated).
pub fn read_senteval_topic(input: &Path, gold: &Path) -> Result<Vec<StsPair>, DataError> {
    let inputs = parse_tsv(&read_text(input)?);
    let scores = read_text(gold)?;
    let scores: Vec<&str> = scores.lines().collect();
    if inputs.len() != scores.len() {
        return Err(DataError::Invalid {
            path: gold.into(),
            reason: format!(
                "{} scores for the {} pairs of {}",
                scores.len(),
                inputs.len(),
                input.display()
            ),
        });
    }
    let mut pairs = Vec::new();
    for ((line, fields), score) in inputs.into_iter().zip(&scores) {
        if score.trim().is_empty() {
            continue;
        }
        let [first, second, ..] = &fields[..] else {
            return Err(row_error(
                input,
                line,
                "expected two tab-separated sentences".into(),
            ));
        };
        pairs.push(StsPair {
            score: parse_score(gold, line, score)?,
            first: first.clone(),
            second: second.clone(),
        });
    }
    Ok(pairs)
}

fn non_empty(path: &Path, pairs: Vec<StsPair>) -> Result<Vec<StsPair>, DataError> {
    if pairs.is_empty() {
        return Err(DataError::Invalid {
            path: path.into(),
            reason: "no sentence pairs".into(),
        });
    }
    Ok(pairs)
}

/// The file `name` or `name.gz` in `dir`.
fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    [name.to_string(), format!("{name}.gz")]
        .into_iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

/// Every STS set in `dir` and its sub-folders: STS-B dev and test, SICK-R test and each
/// STS12–16 folder (named after the folder). Errors if there is none.
pub fn find_sts_sets(dir: &Path) -> Result<Vec<StsSet>, DataError> {
    let mut sets = Vec::new();
    collect_sets(dir, &mut sets, 0)?;
    if sets.is_empty() {
        return Err(DataError::Invalid {
            path: dir.into(),
            reason: "no STS data found (expected sts-dev.csv/sts-test.csv, SICK*.txt or SentEval's STS.input.*.txt with STS.gs.*.txt)".into(),
        });
    }
    Ok(sets)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_string()
}

fn collect_sets(dir: &Path, sets: &mut Vec<StsSet>, depth: usize) -> Result<(), DataError> {
    let io = |source| DataError::Io {
        path: dir.into(),
        source,
    };
    // Sets in sub-folders carry the folder's name (e.g. two variants of STS-B side by side).
    let origin = if depth > 0 {
        format!(" [{}]", file_name(dir))
    } else {
        String::new()
    };
    for (split, file) in [("dev", "sts-dev.csv"), ("test", "sts-test.csv")] {
        if let Some(path) = find(dir, file) {
            sets.push(StsSet {
                name: format!("STS-B {split}{origin}"),
                pairs: read_stsb(&path)?,
            });
        }
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    let file_name = |p: &Path| {
        p.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string()
    };
    if let Some(sick) = entries.iter().find(|p| {
        let name = file_name(p);
        name == "SICK.txt" || name == "SICK_test_annotated.txt"
    }) {
        sets.push(StsSet {
            name: format!("SICK-R test{origin}"),
            pairs: read_sick(sick)?,
        });
    }
    let mut topics = Vec::new();
    for input in &entries {
        let name = file_name(input);
        if let Some(topic) = name
            .strip_prefix("STS.input.")
            .and_then(|n| n.strip_suffix(".txt"))
        {
            let gold = dir.join(format!("STS.gs.{topic}.txt"));
            if gold.is_file() {
                topics.extend(read_senteval_topic(input, &gold)?);
            }
        }
    }
    if !topics.is_empty() {
        sets.push(StsSet {
            name: file_name(dir),
            pairs: topics,
        });
    }
    if depth < 2 {
        for sub in entries.iter().filter(|p| p.is_dir()) {
            collect_sets(sub, sets, depth + 1)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::tests::TempFile;

    #[test]
    fn stsb_rows_tolerate_quotes_and_extra_columns() {
        let file = TempFile::new(
            "sts.csv",
            b"main-news\tMSRvid\t2012test\t0001\t5.000\tA \"man\" runs.\tA man is running.\tsource\textra\n",
        );
        assert_eq!(
            read_stsb(&file.0).unwrap(),
            vec![StsPair {
                first: "A \"man\" runs.".into(),
                second: "A man is running.".into(),
                score: 5.0
            }]
        );
    }

    #[test]
    fn stsb_errors_name_the_line() {
        let file = TempFile::new(
            "short.csv",
            b"g\tf\ty\t1\t2.0\ta\tb\ng\tf\ty\t2\t3.0\tonly one\n",
        );
        let message = read_stsb(&file.0).unwrap_err().to_string();
        assert!(
            message.ends_with("short.csv:2: 6 tab-separated fields, expected at least 7"),
            "{message}"
        );
        let file = TempFile::new("score.csv", b"g\tf\ty\t1\tfive\ta\tb\n");
        let message = read_stsb(&file.0).unwrap_err().to_string();
        assert!(
            message.ends_with("score.csv:1: score `five` is not a number"),
            "{message}"
        );
    }

    #[test]
    fn sick_reads_the_test_rows_by_header() {
        let file = TempFile::new(
            "SICK.txt",
            b"pair_ID\tsentence_A\tsentence_B\tentailment_label\trelatedness_score\tSemEval_set\n\
              1\ta b\tc d\tNEUTRAL\t3.5\tTRAIN\n2\te f\tg h\tENTAILMENT\t4.25\tTEST\n",
        );
        let pairs = read_sick(&file.0).unwrap();
        assert_eq!(pairs.len(), 1);
        assert_eq!((pairs[0].first.as_str(), pairs[0].score), ("e f", 4.25));
    }

    #[test]
    fn senteval_topics_skip_unrated_pairs_and_folders_are_found() {
        let dir = std::env::temp_dir().join(format!("sts-folder-{}", std::process::id()));
        let sts12 = dir.join("STS12");
        std::fs::create_dir_all(&sts12).unwrap();
        std::fs::write(sts12.join("STS.input.news.txt"), "a\tb\nc\td\ne\tf\n").unwrap();
        std::fs::write(sts12.join("STS.gs.news.txt"), "4.0\n\n1.5\n").unwrap();
        std::fs::write(dir.join("sts-dev.csv"), "g\tf\ty\t1\t2.0\tx\ty\n").unwrap();
        let sets = find_sts_sets(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let summary: Vec<(String, usize)> = sets
            .iter()
            .map(|s| (s.name.clone(), s.pairs.len()))
            .collect();
        assert_eq!(
            summary,
            vec![("STS-B dev".to_string(), 1), ("STS12".to_string(), 2)]
        );
        assert_eq!(sets[1].pairs[1].first, "e");
    }

    proptest::proptest! {
        #[test]
        fn any_stsb_text_parses_to_finite_scores_or_names_a_line(
            text in "(?s)[a-z0-9.\t\n -]{0,300}",
        ) {
            match parse_stsb(Path::new("sts.tsv"), &text) {
                Ok(pairs) => proptest::prop_assert!(pairs.iter().all(|p| p.score.is_finite())),
                Err(DataError::Row { line, .. }) => {
                    proptest::prop_assert!(line >= 1 && line <= text.lines().count());
                }
                Err(_) => {}
            }
        }
    }
}
