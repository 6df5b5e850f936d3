//! STUB: not implemented yet; replace this whole file.

use crate::error::ApiError;

pub async fn list(_scope: super::scope::Scope) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_IMPLEMENTED,
        20501,
        "Not implemented yet",
    )
}

pub async fn create(_scope: super::scope::Scope) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_IMPLEMENTED,
        20501,
        "Not implemented yet",
    )
}

pub async fn fetch(_scope: super::scope::Scope) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_IMPLEMENTED,
        20501,
        "Not implemented yet",
    )
}

pub async fn update(_scope: super::scope::Scope) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_IMPLEMENTED,
        20501,
        "Not implemented yet",
    )
}

pub async fn delete(_scope: super::scope::Scope) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_IMPLEMENTED,
        20501,
        "Not implemented yet",
    )
}
