//! SimVLM — simple visual language model pre-training with PrefixLM (Wang et al., 2021).
//!
//! So far: the captioning metrics ([`caption_metrics`]: corpus BLEU-4 and CIDEr-D). The PrefixLM
//! encoder–decoder, 2-D relative attention, decoding and the data are still to come; the
//! convolutional stem will be the shared ResNet truncated after three stages
//! (`contrastive_core::nn::ResNetConfig::stages`).

pub mod caption_metrics;
