"""`cadet inspect`: read a center's logs and propose the site conventions they show, each with its evidence.

A center names its escalation queue, its IVR extension, its wrap-up pause reason and
its ring timeout its own way; cadet's defaults are only guesses.  This module profiles
the logs as the platform readers see them (nothing is written to the lake) and turns
the profile into a settings file a user reviews and passes with `--config`.

A proposal is made only on evidence: enough events, from several reps, that fit one
reading much better than the others.  Everything else is listed as evidence in
comments, for the user to decide.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, available_timezones

import numpy as np
import pandas as pd

from pipelines.config import CadetConfig
from pipelines.privacy import normalise_number
from pipelines.readers import asterisk as ast
from pipelines.readers import connect as cx
from pipelines.readers.canonical import UnreadableFile

MIN_EVENTS = 20  # fewer events than this prove nothing about a convention
MIN_REPS = 2  # a convention is the site's, not one rep's habit
AFTER_CALL_SECONDS = 3  # a pause starting this soon after the rep's call ended is after-call work
WRAPUP_SHARE = 0.6  # share of a reason's pauses that must start right after a call to call it wrap-up
ESCALATION_SHARE = 0.25  # share of a queue's legs that arrive by transfer to call it an escalation queue ...
ESCALATION_LIFT = 2.0  # ... when that is this many times the other queues' typical share
TIMEOUT_SHARE = 0.3  # share of ring-no-answers at one ring time to call it the ring timeout


@dataclass
class Proposal:
    """One setting (dotted key), the value proposed (None: evidence only) and why."""

    key: str
    value: object
    evidence: str
    default: object = None


@dataclass
class Profile:
    source: str
    files: list[str]
    proposals: list[Proposal] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)  # evidence with no setting of its own
    problems: list[str] = field(default_factory=list)

    def propose(self, key: str, value, evidence: str, default=None) -> None:
        self.proposals.append(Proposal(key, value, evidence, default))


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "-"


# --------------------------------------------------------------------------- Asterisk

def profile_asterisk(files: list[Path], config: CadetConfig) -> Profile:
    profile = Profile("asterisk", [str(f) for f in files])
    settings = config.ingest.asterisk
    logs, cdrs = [], []
    for path in files:
        try:
            kind = ast.kind_of_file(path)
            if kind == "queue_log":
                logs.append(ast.read_queue_log(path, config.site.timezone)[0])
            elif kind == "cdr":
                cdrs.append(ast.read_cdr(path, config.site.timezone)[0])
        except UnreadableFile as exc:
            profile.problems.append(str(exc))
    if not logs:
        profile.problems.append("no readable queue_log among the files: nothing to profile")
        return profile
    log = ast.concat_logs(logs)
    names = ast.rep_names(log.fields[3], log.fields[4], settings)
    log = ast.with_rep_names(log, settings, names)
    events = pd.DataFrame({"epoch": log.fields[0].astype(np.int64), "callid": log.fields[1], "queue": log.fields[2],
                           "agent": log.fields[3], "event": log.fields[4], "d1": log.fields[5]})
    legs = ast.rebuild_calls(log, settings)[0]

    queues = legs.queue.value_counts()
    profile.facts.append("queues (legs): " + ", ".join(f"{q} {n:,}" for q, n in queues.items()))
    _asterisk_ring_timeout(profile, ast.ring_no_answer_seconds(log), settings.ring_timeout_seconds)
    _asterisk_pauses(profile, events, legs, settings.wrapup_pause_reasons)
    _asterisk_transfers(profile, legs, events, settings)
    if names:
        merged = {}
        for alias, rep in names.items():
            merged.setdefault(rep, []).append(alias)
        profile.facts.append("one rep under several interfaces (merge_interfaces): " +
                             "; ".join(f"{rep} = {', '.join(sorted(a))}" for rep, a in sorted(merged.items())))
    if cdrs:
        _asterisk_timezone(profile, events, pd.concat(cdrs), config.site.timezone)
    return profile


def _asterisk_ring_timeout(profile: Profile, rna: pd.Series, configured: int) -> None:
    if len(rna) < MIN_EVENTS:
        profile.facts.append(f"ring timeout: only {len(rna)} ring-no-answers, too few to tell")
        return
    seconds = rna.round().astype(int)
    counts = seconds.value_counts()
    mode = int(counts.index[0])
    near = int(seconds.between(mode - 1, mode).sum())
    longest = int(seconds.quantile(0.95))
    evidence = (f"{len(rna):,} ring-no-answers; {_share(near, len(rna))} rang {mode - 1}-{mode} s, 95% at most {longest} s "
                f"(a ring-no-answer well short of the timeout is a decline)")
    if near / len(rna) >= TIMEOUT_SHARE and mode != configured:
        profile.propose("ingest.asterisk.ring_timeout_seconds", mode, evidence, configured)
    else:
        profile.facts.append(f"ring timeout {configured} s fits: {evidence}")


def _pauses(events: pd.DataFrame) -> pd.DataFrame:
    """Pauses per agent (one per second, whatever the number of queues), with their length."""
    ev = events[events.event.isin(["PAUSE", "PAUSEALL", "UNPAUSE", "UNPAUSEALL"])].drop_duplicates(["agent", "epoch", "event"])
    ev = ev.sort_values(["agent", "epoch"], kind="stable")
    starts = ev[ev.event.isin(["PAUSE", "PAUSEALL"])].drop_duplicates(["agent", "epoch"])
    ends = ev[ev.event.isin(["UNPAUSE", "UNPAUSEALL"])][["agent", "epoch"]].rename(columns={"epoch": "until"})
    merged = pd.merge_asof(starts.sort_values("epoch"), ends.sort_values("until"), left_on="epoch", right_on="until",
                           by="agent", direction="forward", allow_exact_matches=False)
    return merged.assign(reason=merged.d1.replace("", "(no reason)"), seconds=merged.until - merged.epoch)


def _asterisk_pauses(profile: Profile, events: pd.DataFrame, legs: pd.DataFrame, configured: list[str]) -> None:
    pauses = _pauses(events)
    if pauses.empty:
        profile.facts.append("pauses: none in these logs")
        return
    ends = legs.dropna(subset=["ended_at"])[["end_agent", "ended_at"]].rename(columns={"end_agent": "agent"})
    ends = ends.assign(ended_at=ends.ended_at.astype(np.int64)).sort_values("ended_at")
    near = pd.merge_asof(pauses.sort_values("epoch"), ends, left_on="epoch", right_on="ended_at", by="agent", direction="backward")
    near["after_call"] = (near.epoch - near.ended_at).le(AFTER_CALL_SECONDS).fillna(False)
    rows, wrapup = [], []
    for reason, group in near.groupby("reason"):
        starts = np.sort(group.epoch.to_numpy())
        together = [len(set(near.agent[(near.reason == reason) & near.epoch.between(t - 300, t + 300)])) for t in starts[:500]]
        site_wide = float(np.mean([n >= 5 for n in together])) if together else 0.0
        after = int(group.after_call.sum())
        rows.append(f"{reason!r}: {len(group):,} pauses by {group.agent.nunique()} reps, median {group.seconds.median():.0f} s, "
                    f"{_share(after, len(group))} right after a call, {site_wide:.0%} within 5 min of 4+ other reps'")
        if len(group) >= MIN_EVENTS and group.agent.nunique() >= MIN_REPS and after / len(group) >= WRAPUP_SHARE:
            wrapup.append(reason)
    profile.facts.append("pause reasons: " + "; ".join(rows))
    if wrapup and sorted(wrapup) != sorted(configured):
        evidence = "pauses that start within 3 s of the rep's call ending: " + ", ".join(wrapup)
        profile.propose("ingest.asterisk.wrapup_pause_reasons", sorted(wrapup), evidence, configured)
        profile.propose("features.wrapup_reasons", sorted(set(wrapup) | {"ACW", "Wrap-up", "AfterCallWork"}),
                        "the same reasons, so they never count as breaks")


def escalation_queues(arriving: pd.DataFrame) -> list[str]:
    """Queues fed mostly by transfers from the others: `arriving` has `total` and `by_transfer` per queue."""
    share = arriving.by_transfer / arriving.total.where(arriving.total > 0)
    found = []
    for queue in arriving.index:
        others = share.drop(queue).median() if len(share) > 1 else 0.0
        if arriving.loc[queue, "by_transfer"] >= MIN_EVENTS and share[queue] >= ESCALATION_SHARE \
                and share[queue] >= ESCALATION_LIFT * (others if others == others else 0.0):
            found.append(str(queue))
    return sorted(found)


def _asterisk_transfers(profile: Profile, legs: pd.DataFrame, events: pd.DataFrame, settings) -> None:
    moved = legs[legs.end_event.isin(ast.TRANSFER_EVENTS) & legs.answered_at.notna()]
    if moved.empty:
        profile.facts.append("transfers: none in these logs")
        return
    after = moved.ended_at - moved.answered_at
    profile.facts.append(f"transfers: {len(moved):,} after a median {after.median():.0f} s on the call")
    # escalation queues: most of their legs arrive by transfer
    arriving = legs.groupby("queue").leg.agg(total="size", by_transfer=lambda s: int((s > 1).sum()))
    escalation = escalation_queues(arriving)
    if escalation and sorted(escalation) != sorted(settings.tier2_queues):
        evidence = "; ".join(f"{q}: {arriving.loc[q, 'by_transfer']:,} of {arriving.loc[q, 'total']:,} legs arrive by transfer"
                             for q in escalation)
        profile.propose("ingest.asterisk.tier2_queues", escalation, evidence, settings.tier2_queues)
        profile.propose("ingest.connect.tier2_queues", escalation, "the same queues, for a Connect export of the site")
    # self-service: a transfer target that is no queue and no member's extension, used by several reps, never re-queued
    requeued = set(legs.loc[legs.leg > 1, "callid"])
    members = {n for a in set(events.agent) if (n := ast.interface_number(a))}
    targets = moved[moved.transfer_target.notna() & ~moved.callid.isin(requeued)]
    found = []
    for target, group in targets.groupby("transfer_target"):
        if target in members or target in set(legs.queue):
            continue
        line = f"{target!r}: {len(group):,} transfers by {group.rep_id.nunique()} reps, never back in a queue"
        if len(group) >= 5 and group.rep_id.nunique() >= MIN_REPS:
            found.append((target, line))
        else:
            profile.facts.append("transfer target " + line)
    if found and sorted(t for t, _ in found) != sorted(settings.self_service_extensions):
        profile.propose("ingest.asterisk.self_service_extensions", sorted(t for t, _ in found),
                        "; ".join(line for _, line in found) + " (check these are the IVR, not a partner's line)",
                        settings.self_service_extensions)


def _asterisk_timezone(profile: Profile, events: pd.DataFrame, cdr: pd.DataFrame, configured: str) -> None:
    """Master.csv holds the PBX's wall clock, queue_log Unix time: the gap between the two is the site's UTC offset."""
    enter = events[events.event == "ENTERQUEUE"].drop_duplicates("callid").set_index("callid").epoch
    raw = pd.to_datetime(cdr.start.dt.tz_convert(configured).dt.tz_localize(None))  # back to the wall clock as written
    joined = pd.DataFrame({"local": raw.values, "uid": cdr.uniqueid.values}).dropna()
    joined["epoch"] = joined.uid.map(enter)
    joined = joined.dropna()
    if len(joined) < MIN_EVENTS:
        return
    local_epoch = (joined.local - pd.Timestamp(0)).dt.total_seconds()
    offset = int(round(float(np.median(local_epoch - joined.epoch)) / 900.0) * 900)
    day = dt.datetime.fromtimestamp(int(joined.epoch.median()), dt.UTC)
    configured_offset = int(ZoneInfo(configured).utcoffset(day.replace(tzinfo=None)).total_seconds())
    sign = "+" if offset >= 0 else "-"
    text = f"UTC{sign}{abs(offset) // 3600:02d}:{abs(offset) % 3600 // 60:02d}"
    if offset == configured_offset:
        profile.facts.append(f"time zone {configured} fits: Master.csv's wall clock is {text} from queue_log's Unix time")
        return
    zones = sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/"))
                   and ZoneInfo(z).utcoffset(day.replace(tzinfo=None)).total_seconds() == offset)
    profile.propose("site.timezone", None, f"Master.csv's wall clock is {text} from queue_log's Unix time on "
                    f"{len(joined):,} calls, not {configured}; zones at {text} then: {', '.join(zones[:8])}"
                    f"{' ...' if len(zones) > 8 else ''} (choose yours)", configured)


# --------------------------------------------------------------------------- Amazon Connect

def profile_connect(files: list[Path], config: CadetConfig) -> Profile:
    profile = Profile("amazon-connect", [str(f) for f in files])
    settings = config.ingest.connect
    contacts, statuses = [], []
    for path in files:
        if path.suffix in (".csv", ".parquet"):
            continue
        first, _ = cx.first_object(path)
        if first is not None and cx.is_agent_events(first):
            statuses.append(cx.read_agent_events(path)[0])
        else:
            contacts.append(cx.read_contact_records(path, settings)[0])
    if not contacts:
        profile.problems.append("no contact records among the files: nothing to profile")
        return profile
    c = cx.newest_versions(pd.concat(contacts, ignore_index=True))
    profile.facts.append("queues (contacts): " + ", ".join(f"{q} {n:,}" for q, n in c.queue.value_counts().items()))
    profile.facts.append("initiation methods: " + ", ".join(f"{m} {n:,}" for m, n in c.method.value_counts().items()))

    by_queue = c[c.queue.notna()].groupby("queue").method.agg(total="size", by_transfer=lambda m: int(m.eq("TRANSFER").sum()))
    escalation = escalation_queues(by_queue)
    if escalation and sorted(escalation) != sorted(settings.tier2_queues):
        profile.propose("ingest.connect.tier2_queues", escalation,
                        "; ".join(f"{q}: {by_queue.loc[q, 'by_transfer']:,} of {by_queue.loc[q, 'total']:,} contacts arrive by "
                                  "transfer" for q in escalation), settings.tier2_queues)

    phone = c[c.transferred_to_type.eq("TELEPHONE_NUMBER") & c.transferred_to.notna() & c.answered_at.notna()]
    found = []
    for number, group in phone.groupby("transferred_to"):
        seconds = (group.transfer_done.fillna(group.ended_at) - group.answered_at).dt.total_seconds().median()
        line = (f"number ending {normalise_number(number)[-4:]}: {len(group):,} transfers by {group.rep_id.nunique()} reps, "
                f"a median {seconds:.0f} s after answering")
        (found.append((number, line)) if len(group) >= 5 and group.rep_id.nunique() >= MIN_REPS
         else profile.facts.append("outside transfer " + line))
    if found and sorted(n for n, _ in found) != sorted(settings.self_service_numbers):
        profile.propose("ingest.connect.self_service_numbers", sorted(n for n, _ in found),
                        "; ".join(line for _, line in found) + " (check each is a self-service line, not a partner's)",
                        settings.self_service_numbers)

    monitors = sorted(set(c.loc[c.method.eq("MONITOR"), "rep_id"].dropna()))
    if monitors and sorted(set(monitors) | set(settings.supervisors)) != sorted(settings.supervisors):
        profile.propose("ingest.connect.supervisors", sorted(set(monitors) | set(settings.supervisors)),
                        f"{len(monitors)} username(s) monitor other agents' calls (InitiationMethod MONITOR)", settings.supervisors)
    if statuses:
        s = pd.concat(statuses, ignore_index=True)
        kinds = s.groupby("status").status_type.agg(lambda t: ", ".join(sorted(set(t.dropna()))) or "no Type")
        counts = s.status.value_counts()
        profile.facts.append("agent statuses: " + "; ".join(f"{name!r} {counts[name]:,} ({kinds[name]})" for name in counts.index))
        untyped = s[s.status_type.isna() & s.status.notna()].status.unique()
        unknown = sorted(set(untyped) - set(settings.available_status_names) - set(settings.offline_status_names))
        if len(untyped):
            profile.facts.append(f"statuses without a Type: {sorted(untyped)}; read as pauses unless named in "
                                 f"available_status_names / offline_status_names (unknown now: {unknown or 'none'})")
    return profile


# --------------------------------------------------------------------------- output

def _yaml_value(value) -> str:
    import json

    return json.dumps(value) if isinstance(value, (list, str)) else str(value)


def render(profile: Profile, generated: str) -> str:
    """The proposed settings file: every proposal with its evidence, then the rest of what was seen."""
    lines = [f"# cadet settings proposed by `cadet inspect --source {profile.source}` on {generated}",
             f"# from {len(profile.files)} file(s). Review every value, then: cadet --config THIS_FILE run ...", ""]
    tree: dict[str, dict[str, list[Proposal]]] = {}
    for p in profile.proposals:
        section, _, rest = p.key.partition(".")
        tree.setdefault(section, {}).setdefault(rest, []).append(p)
    for section, keys in tree.items():
        lines.append(f"{section}:")
        nested: dict[str, list[tuple[str, Proposal]]] = {}
        for rest, proposals in keys.items():
            head, _, leaf = rest.rpartition(".")
            nested.setdefault(head, []).extend((leaf, p) for p in proposals)
        for head, items in nested.items():
            indent = "  "
            if head:
                lines.append(f"  {head}:")
                indent = "    "
            for leaf, p in items:
                lines.append(f"{indent}# {p.evidence}" + (f" (default: {_yaml_value(p.default)})" if p.default is not None else ""))
                lines.append(f"{indent}{'# ' if p.value is None else ''}{leaf}: {_yaml_value(p.value) if p.value is not None else '...'}")
        lines.append("")
    if not profile.proposals:
        lines.append("# nothing to change: the settings in use fit what these logs show")
    lines.append("# What the logs show:")
    lines += [f"#   {fact}" for fact in profile.facts]
    lines += [f"# problem: {problem}" for problem in profile.problems]
    return "\n".join(lines) + "\n"


def inspect_logs(source: str, files: list[Path], config: CadetConfig) -> Profile:
    if source == "asterisk":
        return profile_asterisk(files, config)
    if source == "amazon-connect":
        return profile_connect(files, config)
    profile = Profile(source, [str(f) for f in files])
    profile.facts.append("canonical files carry cadet's own conventions: nothing to discover")
    return profile

