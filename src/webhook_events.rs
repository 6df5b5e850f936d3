//! The Conversations webhook events (twilio-behavior.md 17.2), in one place: the typed
//! [`EventType`] that the store fires and the outbox filters on, and what the webhook
//! configurations accept in their `Filters`. On the wire and in the database an event is its
//! Twilio name (`onMessageAdded`), written only in the table below.

use std::fmt;
use std::str::FromStr;

/// Declares the events, pre-action ones first: `Variant = "twilioName",`.
macro_rules! events {
    (
        pre { $($pre:ident = $pre_name:literal,)+ }
        post { $($post:ident = $post_name:literal,)+ }
    ) => {
        /// A Conversations webhook event.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventType {
            $($pre,)+
            $($post,)+
        }

        /// Pre-action (blocking) events' names: only the account and service configurations
        /// send them.
        pub const PRE_EVENTS: &[&str] = &[$($pre_name),+];

        /// Post-action events' names: every level sends them, conversation-scoped webhooks
        /// included.
        pub const POST_EVENTS: &[&str] = &[$($post_name),+];

        impl EventType {
            /// The pre-action events, in the table's order.
            pub const PRE: &'static [EventType] = &[$(EventType::$pre),+];
            /// The post-action events, in the table's order.
            pub const POST: &'static [EventType] = &[$(EventType::$post),+];
            /// Every event: the pre-action ones, then the post-action ones.
            pub const ALL: &'static [EventType] = &[$(EventType::$pre,)+ $(EventType::$post),+];

            /// Twilio's name for the event (`EventType` in the webhook's form, `Filters` entries).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(EventType::$pre => $pre_name,)+
                    $(EventType::$post => $post_name,)+
                }
            }

            /// Whether the event is sent before the action, which its target may veto or change.
            pub const fn is_pre_action(self) -> bool {
                matches!(self, $(EventType::$pre)|+)
            }
        }
    };
}

events! {
    pre {
        ConversationAdd = "onConversationAdd",
        ConversationUpdate = "onConversationUpdate",
        ConversationRemove = "onConversationRemove",
        MessageAdd = "onMessageAdd",
        MessageUpdate = "onMessageUpdate",
        MessageRemove = "onMessageRemove",
        ParticipantAdd = "onParticipantAdd",
        ParticipantUpdate = "onParticipantUpdate",
        ParticipantRemove = "onParticipantRemove",
        UserUpdate = "onUserUpdate",
    }
    post {
        ConversationAdded = "onConversationAdded",
        ConversationUpdated = "onConversationUpdated",
        ConversationRemoved = "onConversationRemoved",
        ConversationStateUpdated = "onConversationStateUpdated",
        MessageAdded = "onMessageAdded",
        MessageUpdated = "onMessageUpdated",
        MessageRemoved = "onMessageRemoved",
        ParticipantAdded = "onParticipantAdded",
        ParticipantUpdated = "onParticipantUpdated",
        ParticipantRemoved = "onParticipantRemoved",
        DeliveryUpdated = "onDeliveryUpdated",
        UserAdded = "onUserAdded",
        UserUpdated = "onUserUpdated",
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// confab's own events on the event stream (`GET /confab/Events`), beside Twilio's post-action
/// ones: things a developer debugging against confab wants to see that no Twilio webhook
/// reports. Named `confab...`, so that they never collide with a Twilio name (which all begin
/// with `on`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfabEvent {
    /// A webhook attempt failed: a post-action delivery that will be retried (`Outcome`
    /// `retrying`) or was given up (`gave_up`), or a pre-action call that got no answer and let
    /// the action go ahead (`fail_open`).
    WebhookFailed,
    /// An inbound message (`POST /confab/Inbound`) that reached no conversation: `Outcome`
    /// `ignored` (nothing routes it), `dropped` (an `onConversationAdd` veto) or `failed` (its
    /// media could not be fetched).
    InboundUnrouted,
}

impl ConfabEvent {
    pub const ALL: &'static [ConfabEvent] =
        &[ConfabEvent::WebhookFailed, ConfabEvent::InboundUnrouted];

    /// The event's name on the stream.
    pub const fn as_str(self) -> &'static str {
        match self {
            ConfabEvent::WebhookFailed => "confabWebhookFailed",
            ConfabEvent::InboundUnrouted => "confabInboundUnrouted",
        }
    }
}

/// What an event stream carries, and what its `EventType` filter may name: Twilio's
/// post-action events and confab's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamEventKind {
    Twilio(EventType),
    Confab(ConfabEvent),
}

impl StreamEventKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            StreamEventKind::Twilio(event) => event.as_str(),
            StreamEventKind::Confab(event) => event.as_str(),
        }
    }
}

impl FromStr for StreamEventKind {
    type Err = UnknownEvent;

    /// A post-action event's Twilio name, or one of confab's own (a pre-action event never
    /// reaches a stream).
    fn from_str(name: &str) -> Result<Self, UnknownEvent> {
        if let Ok(event) = name.parse::<EventType>() {
            return match event.is_pre_action() {
                false => Ok(StreamEventKind::Twilio(event)),
                true => Err(UnknownEvent),
            };
        }
        ConfabEvent::ALL
            .iter()
            .find(|e| e.as_str() == name)
            .map(|e| StreamEventKind::Confab(*e))
            .ok_or(UnknownEvent)
    }
}

/// A name that is no event (names are case-sensitive, as Twilio spells them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownEvent;

impl FromStr for EventType {
    type Err = UnknownEvent;

    fn from_str(name: &str) -> Result<Self, UnknownEvent> {
        EventType::ALL
            .iter()
            .copied()
            .find(|e| e.as_str() == name)
            .ok_or(UnknownEvent)
    }
}

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
    /// The post-events of an existing conversation: an address configuration's
    /// `AutoCreation.WebhookFilters` (the spec's list), for the scoped webhook it attaches to the
    /// conversations it creates. The conversation is already added by then, and user events are
    /// not a conversation's.
    AutoCreation,
}

impl Accepted {
    /// Whether a `Filters` list of this kind may name `event`.
    pub fn accepts(self, event: EventType) -> bool {
        use EventType::{ConversationAdded, UserAdded, UserUpdated};
        match self {
            Accepted::PreAndPost => true,
            Accepted::PostOnly => !event.is_pre_action(),
            Accepted::AutoCreation => {
                !event.is_pre_action()
                    && !matches!(event, ConversationAdded | UserAdded | UserUpdated)
            }
        }
    }
}

/// Whether `name` is an event of the accepted kind (names are case-sensitive, as Twilio spells
/// them).
pub fn is_accepted(name: &str, accepted: Accepted) -> bool {
    name.parse()
        .is_ok_and(|event: EventType| accepted.accepts(event))
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
        assert_eq!(EventType::ALL.len(), 23);
        for name in PRE_EVENTS {
            assert!(!POST_EVENTS.contains(name), "{name}");
        }
    }

    #[test]
    fn names_and_events_convert_both_ways() {
        for event in EventType::ALL {
            assert_eq!(event.as_str().parse::<EventType>(), Ok(*event));
            assert_eq!(event.to_string(), event.as_str());
        }
        for (events, names) in [(EventType::PRE, PRE_EVENTS), (EventType::POST, POST_EVENTS)] {
            let spelled: Vec<&str> = events.iter().map(|e| e.as_str()).collect();
            assert_eq!(spelled, names);
        }
        assert!(EventType::PRE.iter().all(|e| e.is_pre_action()));
        assert!(EventType::POST.iter().all(|e| !e.is_pre_action()));
        assert_eq!("onmessageadded".parse::<EventType>(), Err(UnknownEvent));
        assert_eq!(
            "onMessageAdded".parse::<EventType>(),
            Ok(EventType::MessageAdded)
        );
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
    fn auto_creation_filters_are_the_specs_ten() {
        let names: Vec<&str> = EventType::ALL
            .iter()
            .filter(|e| Accepted::AutoCreation.accepts(**e))
            .map(|e| e.as_str())
            .collect();
        assert_eq!(
            names,
            [
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
            ]
        );
    }

    #[test]
    fn streams_carry_post_action_events_and_confabs_own() {
        assert_eq!(
            "onMessageAdded".parse::<StreamEventKind>(),
            Ok(StreamEventKind::Twilio(EventType::MessageAdded))
        );
        assert_eq!(
            "confabWebhookFailed".parse::<StreamEventKind>(),
            Ok(StreamEventKind::Confab(ConfabEvent::WebhookFailed))
        );
        assert_eq!("onMessageAdd".parse::<StreamEventKind>(), Err(UnknownEvent));
        assert_eq!("confab".parse::<StreamEventKind>(), Err(UnknownEvent));
        for event in ConfabEvent::ALL {
            assert!(!event.as_str().starts_with("on"));
            let kind = StreamEventKind::Confab(*event);
            assert_eq!(kind.as_str().parse::<StreamEventKind>(), Ok(kind));
        }
    }

    #[test]
    fn dedup_keeps_the_first_order() {
        let names = ["b", "a", "b"].map(String::from).to_vec();
        assert_eq!(dedup(names), ["b", "a"]);
    }
}
