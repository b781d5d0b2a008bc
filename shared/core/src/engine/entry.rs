//! Starting runs: the triggers (an event, a segment transition, a
//! campaign) and the entry rules a run must pass to start.

use super::*;

impl Engine {
    pub(super) fn trigger_event(
        &self,
        st: &mut CustomerState,
        e: &Arc<Event>,
        triggers: &[Arc<FlowDef>],
        props: &Value,
        cx: &mut Cx,
    ) {
        for flow in triggers {
            let t = &flow.trigger;
            // `EventFacts::triggers` lists the flows by their trigger's event name.
            debug_assert_eq!(t.event.as_deref(), Some(e.name()));
            if !t.filter.iter().all(|m| m.test(props)) {
                continue;
            }
            let max_age = t.max_age.map(|d| d.exact()).unwrap_or(DEFAULT_MAX_AGE);
            if crate::model::duration::add_dur(e.occurred_at, max_age) < cx.now {
                let mut d = cx.decision(st, Kind::Skipped);
                d.flow = Some(flow.id.clone());
                d.reason = Some(
                    format!(
                        "trigger {} is older than the flow's max_age ({})",
                        e.id,
                        crate::model::duration::Dur {
                            days: 0,
                            seconds: max_age.as_secs()
                        }
                    )
                    .into(),
                );
                cx.out.decisions.push(d);
                continue;
            }
            let key = match &t.key {
                Some(path) => match crate::segment::compare::first_at(props, path) {
                    Some(Value::String(s)) => s.clone(),
                    Some(v) => v.to_string(),
                    None => {
                        let mut d = cx.decision(st, Kind::Skipped);
                        d.flow = Some(flow.id.clone());
                        d.reason = Some(
                            format!("trigger event {} has no {path:?} for the run key", e.id)
                                .into(),
                        );
                        cx.out.decisions.push(d);
                        continue;
                    }
                },
                None => String::new(),
            };
            self.try_enter(
                st,
                flow,
                Some(Arc::clone(e)),
                e.id.as_str(),
                key,
                e.occurred_at.min(cx.now),
                cx,
            );
        }
    }

    pub(super) fn trigger_segments(&self, st: &mut CustomerState, ts: &[Transition], cx: &mut Cx) {
        if ts.is_empty() {
            return;
        }
        for flow in cx.cfg.segment_triggered() {
            for tr in ts {
                let hit = if tr.entered {
                    flow.trigger.segment_enter.as_deref()
                } else {
                    flow.trigger.segment_exit.as_deref()
                };
                if hit == Some(&*tr.segment) {
                    let id = format!(
                        "segment:{}:{}:{}",
                        tr.segment,
                        if tr.entered { "enter" } else { "exit" },
                        cx.now
                    );
                    self.try_enter(st, flow, None, &id, String::new(), cx.now, cx);
                }
            }
        }
    }

    pub(super) fn on_campaign(&self, st: &mut CustomerState, flow_id: &str, cx: &mut Cx) {
        let Some(flow) = cx.cfg.latest(flow_id).cloned() else {
            return;
        };
        let Some(c) = &flow.trigger.campaign else {
            return;
        };
        // The campaign's segment, as of now.
        self.update_segments(st, cx, Dirty::default());
        if !st.segments.is_member(&c.segment) {
            let mut d = cx.decision(st, Kind::Skipped);
            d.flow = Some(flow.id.clone());
            d.reason = Some(format!("not in campaign segment {:?}", c.segment).into());
            cx.out.decisions.push(d);
            return;
        }
        let id = format!("campaign:{}:{}", flow.id, c.start);
        self.try_enter(st, &flow, None, &id, String::new(), cx.now, cx);
    }

    /// Entry rules, in order: the ledger (a replayed trigger), once-ever /
    /// once-per, one live run per key, the flow filter, a goal already
    /// reached, and the intent ladder.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn try_enter(
        &self,
        st: &mut CustomerState,
        flow: &Arc<FlowDef>,
        trigger: Option<Arc<Event>>,
        trigger_id: &str,
        key: String,
        at: Timestamp,
        cx: &mut Cx,
    ) {
        let cfg = cx.cfg;
        #[inline]
        fn skip(st: &CustomerState, cx: &mut Cx, flow: &FlowDef, why: Reason) {
            let mut d = cx.decision(st, Kind::Skipped);
            d.flow = Some(flow.id.clone());
            d.version = Some(flow.version);
            d.reason = Some(why);
            cx.out.decisions.push(d);
        }
        let flow_hash = flow.id_hash();
        if let Some(e) = st.entries.get_hashed(&flow.id, flow_hash) {
            match &flow.entry {
                crate::flow::Entry::OnceEver => {
                    return skip(st, cx, flow, "entry rule once_ever: entered before".into())
                }
                crate::flow::Entry::OncePer(d) if d.add_exact(e.last) > at => {
                    return skip(st, cx, flow, flow.once_per_reason(*d));
                }
                _ => {}
            }
        }
        // Most runs are of other flows: their definition's id hash tells
        // (runs made here share the flow's id, so a pointer compare settles
        // the rest).
        let same_flow = |r: &Run| match &r.def.0 {
            Some(d) if d.id_hash() != flow_hash => false,
            _ => Arc::ptr_eq(&r.flow, &flow.id) || r.flow == flow.id,
        };
        if st.runs.iter().any(|r| same_flow(r) && r.key == key) {
            let why = if key.is_empty() {
                "a run of this flow is already live for this customer".into()
            } else {
                reason![
                    "a run of this flow is already live for key ",
                    Part::Quoted(Arc::from(key.as_str()))
                ]
            };
            return skip(st, cx, flow, why);
        }
        let mut digits = [0u8; 10];
        let run_key = crate::model::links::hash64(&[
            &flow.id,
            decimal(flow.version, &mut digits),
            st.profile.id.as_str(),
            trigger_id,
        ]);
        if st.ledger.contains_key(&run_key) {
            return skip(
                st,
                cx,
                flow,
                reason![
                    "already entered for trigger ",
                    Part::Owned(trigger_id.into())
                ],
            );
        }
        if let Some(f) = &flow.filter {
            if !self.eval(st, cx, f).value {
                return skip(st, cx, flow, "flow filter does not match".into());
            }
        }
        // A goal that came before the trigger (webhooks out of order).
        let needs_props = flow.goals.iter().any(|g| !g.same.is_empty());
        let props = trigger
            .as_ref()
            .filter(|_| needs_props)
            .map(|e| e.kind.properties_json());
        for g in &flow.goals {
            let hit = st.history.named_since(&g.event, at).iter().find(|r| {
                // The trigger itself is no goal reached before entry.
                r.id.as_str() != trigger_id
                    && r.at <= cx.now
                    && matches_recorded(g.view(), &r.name, r.props.view(), props.as_ref())
            });
            if let Some(r) = hit {
                let why = reason![
                    "goal already reached: ",
                    Part::Owned((*r.name).into()),
                    " (",
                    r.id.shared(),
                    ")"
                ];
                return skip(st, cx, flow, why);
            }
        }
        let ladder = &cfg.settings.intent_ladder;
        let level = flow
            .intent
            .as_ref()
            .and_then(|i| ladder.iter().position(|l| l == i));
        if let Some(lv) = level {
            if let Some(higher) = st
                .runs
                .iter()
                .find(|r| r.intent.map(|x| x > lv).unwrap_or(false))
            {
                return skip(
                    st,
                    cx,
                    flow,
                    reason!["higher-intent run live: ", &higher.flow],
                );
            }
        }

        // Enter.
        let run_id: Arc<str> = Arc::from(crate::model::links::hex64_in(run_key, &mut [0; 16]));
        st.note_ledger_key(run_key, cx.now);
        let rec = st.entries.record_mut(&flow.id, flow_hash, at);
        rec.count += 1;
        rec.last = rec.last.max(at);
        let rank = cfg
            .settings
            .policy
            .rank(&flow.priority)
            .unwrap_or(usize::MAX);
        let mut d = cx.decision(st, Kind::FlowEnter);
        d.flow = Some(flow.id.clone());
        d.version = Some(flow.version);
        d.run = Some(run_id.clone());
        d.reason = Some(match &trigger {
            Some(e) => Reason::about(About::Trigger, e),
            None => reason![
                "trigger: ",
                Part::Owned(
                    trigger_id
                        .rsplit_once(':')
                        .map(|(a, _)| a)
                        .unwrap_or(trigger_id)
                        .into()
                )
            ],
        });
        cx.out.decisions.push(d);
        if let Some(lv) = level {
            let mut i = 0;
            while i < st.runs.len() {
                if st.runs[i].intent.map(|x| x < lv).unwrap_or(false) {
                    let r = st.runs.remove(i);
                    let mut d = cx.decision(st, Kind::FlowExit);
                    d.flow = Some(r.flow);
                    d.version = Some(r.version);
                    d.run = Some(r.id);
                    d.reason = Some(reason!["superseded by higher intent: ", &flow.id]);
                    cx.out.decisions.push(d);
                } else {
                    i += 1;
                }
            }
        }
        st.runs.push(Run {
            id: run_id,
            flow: flow.id.clone(),
            version: flow.version,
            key,
            trigger,
            started_at: at,
            cursor: at,
            step: 0,
            wait: Wait::Ready,
            arm: None,
            messaged: false,
            intent: level,
            rank,
            def: crate::customer::state::FlowRef(Some(flow.clone())),
            id_hash: Default::default(),
        });
    }
}
