//! The names of Conversations webhook events (twilio-behavior.md 17.2), in one place: what the webhook
//! configurations accept in their `Filters`, and what the outbox fires.

/// Pre-action (blocking) events: only the account and service configurations send them.
pub const PRE_EVENTS: &[&str] = &[
    "onConversationAdd",
    "onConversationUpdate",
    "onConversationRemove",
    "onMessageAdd",
    "onMessageUpdate",
    "onMessageRemove",
    "onParticipantAdd",
    "onParticipantUpdate",
    "onParticipantRemove",
    "onUserUpdate",
];

/// Post-action events: every level sends them, conversation-scoped webhooks included.
pub const POST_EVENTS: &[&str] = &[
    "onConversationAdded",
    "onConversationUpdated",
    "onConversationRemoved",
    "onConversationStateUpdated",
    "onMessageAdded",
    "onMessageUpdated",
    "onMessageRemoved",
    "onParticipantAdded",
    "onParticipantUpdated",
    "onParticipantRemoved",
    "onDeliveryUpdated",
    "onUserAdded",
    "onUserUpdated",
];

/// Which events a `Filters` list may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Pre- and post-events: the account (`/v1/Configuration/Webhooks`) and service
    /// (`/v1/Services/{IS}/Configuration/Webhooks`) configurations. The spec lists 23 names for
    /// the account and 20 (no `onUser*`) for the service; twilio-behavior.md 17.2 says to accept all
    /// 23 at both levels.
    PreAndPost,
    /// Post-events only: conversation-scoped webhooks, which Twilio documents as post-event
    /// only ("Only post-event webhooks are supported by the Conversation-Scoped Webhooks",
    /// twilio-behavior.md 17.7 [CWH]); a pre-event name there could never fire.
    PostOnly,
}

/// Whether `name` is an event of the accepted kind (names are case-sensitive, as Twilio spells
/// them).
pub fn is_accepted(name: &str, accepted: Accepted) -> bool {
    POST_EVENTS.contains(&name) || (accepted == Accepted::PreAndPost && PRE_EVENTS.contains(&name))
}

/// The first name in `filters` that is not an accepted event, if any: the caller answers it
/// with its own Twilio error code.
pub fn first_unknown(filters: &[String], accepted: Accepted) -> Option<&str> {
    filters
        .iter()
        .map(String::as_str)
        .find(|name| !is_accepted(name, accepted))
}

/// `filters` without repeats, in the order first given.
pub fn dedup(filters: Vec<String>) -> Vec<String> {
    let mut seen = Vec::with_capacity(filters.len());
    for name in filters {
        if !seen.contains(&name) {
            seen.push(name);
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_has_the_23_names_of_the_spec() {
        assert_eq!(PRE_EVENTS.len() + POST_EVENTS.len(), 23);
        for name in PRE_EVENTS {
            assert!(!POST_EVENTS.contains(name), "{name}");
        }
    }

    #[test]
    fn scoped_filters_accept_post_events_only() {
        assert!(is_accepted("onMessageAdded", Accepted::PostOnly));
        assert!(!is_accepted("onMessageAdd", Accepted::PostOnly));
        assert!(is_accepted("onMessageAdd", Accepted::PreAndPost));
        assert!(!is_accepted("onmessageadded", Accepted::PreAndPost));
        let filters = vec!["onUserAdded".to_string(), "onMessageSent".to_string()];
        assert_eq!(
            first_unknown(&filters, Accepted::PreAndPost),
            Some("onMessageSent")
        );
    }

    #[test]
    fn dedup_keeps_the_first_order() {
        let names = ["b", "a", "b"].map(String::from).to_vec();
        assert_eq!(dedup(names), ["b", "a"]);
    }
}
