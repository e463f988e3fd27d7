//! The SimVLM encoder–decoder. The prefix — image tokens from a convolutional stem (the first
//! three ResNet stages), then the text prefix — is encoded with bidirectional attention (2-D
//! relative position biases among image tokens); the decoder predicts the rest of the text with
//! causal self-attention and cross-attention to the encoder.
//!
//! `config`: the hyper-parameters and construction; `layers`: the encoder and decoder layers;
//! `encoder_decoder`: the parameters and forward passes. The loss is the crate's
//! [`objective`](crate::objective).

mod config;
mod encoder_decoder;
mod layers;
#[cfg(test)]
pub(crate) mod tests;

pub use config::SimvlmModelConfig;
pub use encoder_decoder::SimVlm;
pub use layers::{DecoderLayer, EncodedPrefix, EncoderLayer, FeedForward};
