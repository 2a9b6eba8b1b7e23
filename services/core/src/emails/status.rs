//! Where an email of the outbox stands: pending until the mail server takes it (sent) or the
//! attempts run out or the address refuses mail (failed), or cancelled when it no longer applies
//! (the voucher was used up, the holder unsubscribed).

vocabulary! {
    pub enum EmailStatus {
        /// Waiting for its next attempt.
        Pending,
        /// Taken by the mail server.
        Sent,
        /// Given up: attempts exhausted or the address refused.
        Failed,
        /// No longer to be sent.
        Cancelled,
    }
}

impl EmailStatus {
    /// Whether staff may send it again: only an email that did not go and will not go by itself.
    pub fn can_be_retried(self) -> bool {
        matches!(self, EmailStatus::Failed | EmailStatus::Cancelled)
    }
}

#[cfg(test)]
mod tests {
    use super::EmailStatus;

    #[test]
    fn only_a_failed_or_cancelled_email_is_retried() {
        let retried: Vec<_> = EmailStatus::all().filter(|s| s.can_be_retried()).collect();
        assert_eq!(retried, [EmailStatus::Failed, EmailStatus::Cancelled]);
        assert_eq!(EmailStatus::all().count(), 4);
        assert_eq!("cancelled".parse(), Ok(EmailStatus::Cancelled));
    }
}
