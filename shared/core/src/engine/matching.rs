//! Whether an event matches a goal or a `wait_for`: its name, its
//! property tests, and `same` properties equal to the trigger event's.

use super::*;

/// Whether an event matches a goal or a `wait_for`: its name, its property
/// tests, and `same` properties equal to the trigger event's.
pub(crate) fn matches(m: MatchRef, name: &str, props: PropsRef, trigger: Option<&Event>) -> bool {
    if m.event != name || !m.filter.iter().all(|f| f.test_in(props)) {
        return false;
    }
    // The trigger's properties as JSON only for an event that could match:
    // a run's goals are tested against every event its customer sends.
    m.same.is_empty() || {
        let tprops = trigger.map(|t| t.kind.properties_json());
        same_as_trigger(m, props, tprops.as_ref())
    }
}

/// As [`matches`], with the trigger's properties already as JSON.
pub(super) fn matches_recorded(
    m: MatchRef,
    name: &str,
    props: PropsRef,
    trigger_props: Option<&Value>,
) -> bool {
    if m.event != name || !m.filter.iter().all(|f| f.test_in(props)) {
        return false;
    }
    same_as_trigger(m, props, trigger_props)
}

/// Whether every `same` property of `m` has a value in `props` equal to one
/// of the trigger's.
pub(super) fn same_as_trigger(m: MatchRef, props: PropsRef, trigger_props: Option<&Value>) -> bool {
    m.same.iter().all(|path| {
        let Some(tp) = trigger_props else {
            return false;
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        props.lookup(path, &mut a);
        crate::segment::compare::lookup(tp, path, &mut b);
        !b.is_empty() && a.iter().any(|x| b.contains(x))
    })
}
