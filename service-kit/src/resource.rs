//! The URL space both services share in shape: a collection, its health check, and items by id,
//! all under one prefix (`/users`, `/boards`). Parsing it here keeps the routes a plain match.

/// Which resource under a service's prefix a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource<'a> {
    /// `/prefix` or `/prefix/`.
    Collection,
    /// `/prefix/health`.
    Health,
    /// `/prefix/{id}`, the id still unparsed.
    Item(&'a str),
    /// Anything deeper, or outside the prefix.
    Unknown,
}

pub fn resource<'a>(path: &'a str, prefix: &str) -> Resource<'a> {
    let Some(rest) = path.strip_prefix(prefix) else {
        return Resource::Unknown;
    };
    if !rest.is_empty() && !rest.starts_with('/') {
        return Resource::Unknown;
    }
    match rest.trim_start_matches('/') {
        "" => Resource::Collection,
        "health" => Resource::Health,
        id if !id.contains('/') => Resource::Item(id),
        _ => Resource::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_the_collection_its_health_or_an_item() {
        assert_eq!(resource("/users", "/users"), Resource::Collection);
        assert_eq!(resource("/users/", "/users"), Resource::Collection);
        assert_eq!(resource("/users/health", "/users"), Resource::Health);
        assert_eq!(resource("/users/42", "/users"), Resource::Item("42"));
        assert_eq!(resource("/users/abc", "/users"), Resource::Item("abc"));
    }

    #[test]
    fn deeper_or_foreign_paths_are_unknown() {
        assert_eq!(resource("/users/1/posts", "/users"), Resource::Unknown);
        assert_eq!(resource("/usersx", "/users"), Resource::Unknown);
        assert_eq!(resource("/boards", "/users"), Resource::Unknown);
    }
}
