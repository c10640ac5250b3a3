//! Why a plugin could not analyse a document: the contract's `analysis-error`.

/// Why a plugin could not analyse a document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnalysisError {
    /// The document is not what the plugin analyses (kind, missing column...).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A parameter is missing or malformed.
    #[error("bad parameter: {0}")]
    BadParam(String),
    /// The data is present but unusable.
    #[error("invalid input: {0}")]
    InvalidInput(String),
}
