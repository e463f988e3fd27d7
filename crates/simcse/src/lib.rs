//! SimCSE — contrastive learning of sentence embeddings (Gao et al., 2021).
//!
//! Not implemented yet: the BERT encoder with Hugging Face weights, poolers, text datasets,
//! training and STS evaluation are tracked as their own issue. The losses it will use —
//! unsupervised (`N × N`) and supervised with hard negatives (`N × 2N`) — are already in
//! `contrastive_core::loss` and verified against PyTorch.
