//! How a failed command reads on stderr: one sentence made of the error's
//! chain, with a gRPC status as `CODE: message` (never tonic's debug form,
//! `status: NotFound, message: …, metadata: MetadataMap { … }`).

/// The error and its causes, `: `-joined, each said once.
pub fn sentence(error: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = match cause.downcast_ref::<tonic::Status>() {
            Some(status) => status_text(status),
            None => cause.to_string(),
        };
        let text = text.trim().to_owned();
        if text.is_empty() || parts.iter().any(|p| p.contains(&text)) {
            continue;
        }
        parts.push(text);
    }
    parts.join(": ")
}

/// `CODE: message` of a gRPC status (the code's description when the
/// server sent no message).
pub fn status_text(status: &tonic::Status) -> String {
    let code = code_name(status.code());
    match status.message().trim() {
        "" => format!("{code}: {}", status.code().description()),
        message => format!("{code}: {message}"),
    }
}

fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_reads_as_code_and_message() {
        let e = anyhow::Error::new(tonic::Status::not_found("model \"x\" not found"))
            .context("joust detect runs");
        let s = sentence(&e);
        assert_eq!(s, "joust detect runs: NOT_FOUND: model \"x\" not found");
        let e = anyhow::Error::new(tonic::Status::unavailable(""));
        assert_eq!(
            sentence(&e),
            "UNAVAILABLE: The service is currently unavailable"
        );
    }

    #[test]
    fn causes_are_said_once() {
        let e = anyhow::anyhow!("connection refused")
            .context("cannot connect to http://x: connection refused");
        assert_eq!(
            sentence(&e),
            "cannot connect to http://x: connection refused"
        );
    }
}
