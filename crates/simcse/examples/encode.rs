//! Embed sentences with a pretrained model and print how similar they are.
//!
//! ```text
//! cargo run --release -p simcse --example encode -- path/to/all-MiniLM-L6-v2
//! cargo run --release -p simcse --example encode -- sentence-transformers/all-MiniLM-L6-v2
//! ```
//!
//! The model is a directory, or an `org/name` already in the local Hugging Face cache.

use burn::backend::Flex;
use contrastive_core::similarity::cosine;
use simcse::SentenceEncoder;

fn main() {
    if let Err(error) = run() {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let model = std::env::args()
        .nth(1)
        .ok_or("usage: encode MODEL_DIR_OR_ORG/NAME")?;
    let encoder = SentenceEncoder::<Flex>::from_pretrained(&model, &Default::default())?;
    let sentences = [
        "A man is playing a guitar.",
        "Someone plays an instrument.",
        "The stock market fell sharply today.",
    ];
    let vectors = encoder.encode(&sentences)?;
    println!("{} sentences, {} dimensions", vectors.len(), encoder.dim());
    for (i, a) in sentences.iter().enumerate() {
        for (j, b) in sentences.iter().enumerate().skip(i + 1) {
            println!("{:.3}  {a:?} ~ {b:?}", cosine(&vectors[i], &vectors[j]));
        }
    }
    Ok(())
}
