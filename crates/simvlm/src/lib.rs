//! SimVLM — simple visual language model pre-training with PrefixLM (Wang et al., 2021).
//!
//! Not implemented yet: the PrefixLM encoder–decoder, 2-D relative attention, decoding and
//! captioning metrics are tracked as their own issue. Its convolutional stem is the shared
//! ResNet truncated after three stages (`contrastive_core::nn::ResNetConfig::stages`).
