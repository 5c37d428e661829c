//! "Follow all" mode: which refs a node should follow, given the models
//! the registry lists. Every model with a champion gets `name@champion`,
//! every model with a challenger gets `name@challenger`; a followed
//! champion or challenger ref whose alias has gone is dropped. Pure: the
//! node fetches the listing and applies the plan.

use std::collections::BTreeSet;

/// One model as the registry lists it: does it have a champion, a
/// challenger?
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub champion: bool,
    pub challenger: bool,
}

/// What to change in the followed refs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Refs to start following (a model's champion before its challenger).
    pub add: Vec<String>,
    /// Refs to stop following.
    pub drop: Vec<String>,
}

/// The refs follow-all mode manages for `model`.
pub fn managed_refs(model: &str) -> [String; 2] {
    [format!("{model}@champion"), format!("{model}@challenger")]
}

/// The changes that make `followed` match `listed`. Models absent from
/// `listed` are left alone, so a listing of some models is a valid input.
pub fn plan(listed: &[Listed], followed: &BTreeSet<String>) -> Plan {
    let mut out = Plan::default();
    for model in listed {
        let [champion, challenger] = managed_refs(&model.name);
        for (text, present) in [(champion, model.champion), (challenger, model.challenger)] {
            match (present, followed.contains(&text)) {
                (true, false) => out.add.push(text),
                (false, true) => out.drop.push(text),
                _ => {}
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn listed(name: &str, champion: bool, challenger: bool) -> Listed {
        Listed {
            name: name.to_owned(),
            champion,
            challenger,
        }
    }

    fn set(refs: &[&str]) -> BTreeSet<String> {
        refs.iter().map(|r| (*r).to_owned()).collect()
    }

    #[test]
    fn adds_champion_before_challenger_and_skips_models_without_aliases() {
        let p = plan(
            &[listed("a", true, true), listed("b", false, false)],
            &set(&[]),
        );
        assert_eq!(p.add, ["a@champion", "a@challenger"]);
        assert!(p.drop.is_empty());
    }

    #[test]
    fn drops_a_challenger_whose_alias_went_and_keeps_what_is_followed() {
        let p = plan(
            &[listed("a", true, false)],
            &set(&["a@champion", "a@challenger", "other@champion"]),
        );
        assert!(p.add.is_empty());
        assert_eq!(p.drop, ["a@challenger"]);
    }

    #[test]
    fn an_unchanged_listing_plans_nothing() {
        let p = plan(
            &[listed("a", true, true)],
            &set(&["a@champion", "a@challenger"]),
        );
        assert_eq!(p, Plan::default());
    }
}
