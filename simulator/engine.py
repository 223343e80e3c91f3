"""Discrete-event routing of one week of the simulated center.

Routing is the one inherently sequential part of the simulation: who gets a call
depends on who is free at that second.  Everything that can be drawn up front is
(see plan.py); this loop only moves calls and reps between states, longest-idle
first, with a ring timeout that re-offers missed calls.  Weeks are independent,
so they run in parallel processes; this module imports only numpy so that a
worker starts quickly.

States and times are plain Python ints and lists: numpy scalars are slower in a
tight loop.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

# rep states
OFFLINE, IDLE, RINGING, ON_CALL, WRAP, BLOCKED, COOLDOWN = range(7)
# leg states
WAITING, LEG_RINGING, CONNECTED, DONE = range(4)
# event kinds, in tie-break order at the same second
EV_LOGOUT, EV_FREE, EV_END, EV_ANSWER, EV_MISS_RNA, EV_MISS_DECLINE, EV_ABANDON, EV_BLOCK, EV_LOGIN, EV_ARRIVE = range(10)
# offer results
OFFER_ANSWERED, OFFER_RING_NO_ANSWER, OFFER_DECLINED, OFFER_CALLER_ABANDONED = range(4)
# call outcomes and who disconnected
OUT_ANSWERED, OUT_ABANDONED = 0, 1
BY_CALLER, BY_AGENT, BY_TRANSFER = 0, 1, 2
# transfer kinds
XFER_NONE, XFER_QUEUE, XFER_ESCALATION, XFER_SELF_SERVICE = range(4)


@dataclass
class ChunkInput:
    seed: int
    queue_tier: list[int]
    queue_talk: list[float]
    rep_skills: list[tuple[int, ...]]
    params: dict[str, list]
    login_rep: list[int]
    login_at: list[int]
    logout_at: list[int]
    block_rep: list[int]
    block_start: list[int]
    block_end: list[int]
    block_kind: list[int]
    block_reason: list[int]
    block_fixed: list[bool]
    block_number: list[int]
    block_personal: list[bool]
    arrival_time: list[int]
    arrival_queue: list[int]
    arrival_caller: list[int]
    arrival_repeat: list[bool]
    arrival_id: list[int]
    caller_difficult: np.ndarray
    dnd: dict[int, tuple[int, int]]
    open_hours: list[tuple[int, int]]
    ring_timeout: int
    mean_patience: float
    callback_probability: float
    survey_share: float


def _stream(draw):
    while True:
        yield from draw(1 << 15).tolist()


def run_chunk(inp: ChunkInput) -> dict[str, np.ndarray]:
    """Route every call of the chunk; return column arrays of legs, offers, pauses, outbound calls, sessions."""
    rng = np.random.default_rng(inp.seed)
    u = _stream(rng.random).__next__
    z = _stream(rng.standard_normal).__next__
    heappush, heappop = heapq.heappush, heapq.heappop
    exp = math.exp

    n_queues = len(inp.queue_tier)
    n_reps = len(inp.rep_skills)
    tier1_queues = [q for q in range(n_queues) if inp.queue_tier[q] == 1]
    tier2_queues = [q for q in range(n_queues) if inp.queue_tier[q] == 2]
    queue_talk = inp.queue_talk
    queue_tier = inp.queue_tier
    skills = inp.rep_skills
    P = inp.params
    talk_mult, p_hold, hold_mean, wrap_mean = P["talk_mult"], P["p_hold"], P["hold_mean"], P["wrap_mean"]
    p_rna, p_decline, p_early, p_qt = P["p_rna"], P["p_decline"], P["p_early"], P["p_quick_transfer"]
    p_tr, p_esc, fast_esc, p_ss = P["p_transfer"], P["p_escalate"], P["fast_escalation"], P["p_self_service"]
    p_linger, linger_mult, csat_offset = P["p_linger"], P["linger_mult"], P["csat_offset"]
    p_cherry, p_game = P["p_cherry"], P["p_status_game"]
    difficult = inp.caller_difficult
    dnd = inp.dnd
    ring_timeout = inp.ring_timeout
    mean_patience = inp.mean_patience
    survey_share = inp.survey_share
    callback_p = inp.callback_probability
    open_hours = inp.open_hours

    # --- legs (one per queue visit) ---
    L_caller, L_queue, L_enq, L_ans, L_end, L_rep = [], [], [], [], [], []
    L_outcome, L_by, L_hold, L_holds, L_wrap, L_xfer, L_xfer_to, L_on_hold = [], [], [], [], [], [], [], []
    L_resolved, L_csat, L_csat_at, L_parent, L_repeat, L_arrival, L_talk, L_patience = [], [], [], [], [], [], [], []
    L_status, L_ver, L_missed, L_offer_t, L_offer_rep, L_attended = [], [], [], [], [], []

    def new_leg(caller, queue, t, parent, repeat, arrival, talk, patience):
        L_caller.append(caller); L_queue.append(queue); L_enq.append(t); L_ans.append(-1); L_end.append(-1)
        L_rep.append(-1); L_outcome.append(OUT_ABANDONED); L_by.append(BY_CALLER); L_hold.append(0); L_holds.append(0)
        L_wrap.append(0); L_xfer.append(XFER_NONE); L_xfer_to.append(-1); L_on_hold.append(False)
        L_resolved.append(False); L_csat.append(-1); L_csat_at.append(-1); L_parent.append(parent)
        L_repeat.append(repeat); L_arrival.append(arrival); L_talk.append(talk); L_patience.append(patience)
        L_status.append(WAITING); L_ver.append(0); L_missed.append(-1); L_offer_t.append(-1); L_offer_rep.append(-1); L_attended.append(False)
        return len(L_caller) - 1

    O_leg, O_rep, O_at, O_ring, O_result = [], [], [], [], []
    S_rep, S_start, S_end, S_reason = [], [], [], []
    B_rep, B_start, B_end, B_number, B_personal = [], [], [], [], []
    N_rep, N_login, N_logout = [], [], []

    status = [OFFLINE] * n_reps
    token = [0] * n_reps
    login_at = [0] * n_reps
    logout_pending = [False] * n_reps
    pending: list[deque] = [deque() for _ in range(n_reps)]
    idle_heaps: list[list] = [[] for _ in range(n_queues)]
    waiting: list[deque] = [deque() for _ in range(n_queues)]

    events: list[tuple] = []
    seq = 0

    def push(t, kind, a, b=0, ver=0):
        nonlocal seq
        seq += 1
        heappush(events, (t, kind, seq, a, b, ver))

    for i in range(len(inp.login_rep)):
        push(inp.login_at[i], EV_LOGIN, inp.login_rep[i])
        push(inp.logout_at[i], EV_LOGOUT, inp.login_rep[i])
    for b in range(len(inp.block_rep)):
        push(inp.block_start[b], EV_BLOCK, inp.block_rep[b], b)
    for i in range(len(inp.arrival_time)):
        q = inp.arrival_queue[i]
        talk = queue_talk[q] * exp(0.6 * z() - 0.18)
        patience = max(2, int(-mean_patience * math.log(1.0 - u())))
        if u() < 0.02:  # hangs up right after the queue announcement
            patience = 1 + int(5 * u())
        leg = new_leg(inp.arrival_caller[i], q, inp.arrival_time[i], -1, inp.arrival_repeat[i], inp.arrival_id[i], talk, patience)
        push(inp.arrival_time[i], EV_ARRIVE, leg)

    def offer(leg, r, t):
        status[r] = RINGING
        token[r] += 1
        L_status[leg] = LEG_RINGING
        L_offer_t[leg] = t
        L_offer_rep[leg] = r
        window = dnd.get(r)
        if window is not None and window[0] <= t < window[1]:
            push(t + ring_timeout, EV_MISS_RNA, leg, r, L_ver[leg])
            return
        if p_cherry[r] > 0.0 and (L_repeat[leg] or difficult[L_caller[leg]]) and u() < p_cherry[r]:
            push(t + 2 + int(4 * u()), EV_MISS_DECLINE, leg, r, L_ver[leg])
        elif u() < p_rna[r]:
            push(t + ring_timeout, EV_MISS_RNA, leg, r, L_ver[leg])
        elif u() < p_decline[r]:
            push(t + 2 + int(4 * u()), EV_MISS_DECLINE, leg, r, L_ver[leg])
        else:
            push(t + 2 + int(6 * u()), EV_ANSWER, leg, r, L_ver[leg])

    def try_offer(leg, t):
        """Offer a waiting leg to the longest-idle skilled rep; False when nobody is idle."""
        heap = idle_heaps[L_queue[leg]]
        skip = L_missed[leg]
        held = None
        while heap:
            _, r, tok = heap[0]
            if tok != token[r] or status[r] != IDLE:
                heappop(heap)
                continue
            if r == skip and held is None:
                held = heappop(heap)
                continue
            heappop(heap)
            if held is not None:
                heappush(heap, held)
            offer(leg, r, t)
            return True
        if held is not None:  # only the rep who just missed it is free: ring them again
            offer(leg, held[1], t)
            return True
        return False

    def next_waiting(r):
        best, best_t = -1, None
        for q in skills[r]:
            dq = waiting[q]
            while dq and L_status[dq[0]] != WAITING:
                dq.popleft()
            if dq and (best_t is None or L_enq[dq[0]] < best_t):
                best, best_t = dq[0], L_enq[dq[0]]
        return best

    def log_out(r, t):
        status[r] = OFFLINE
        token[r] += 1
        logout_pending[r] = False
        pending[r].clear()
        N_rep.append(r); N_login.append(login_at[r]); N_logout.append(t)

    def start_block(r, b, t):
        if inp.block_fixed[b]:
            end = inp.block_end[b]
            if end <= t + 5:
                return False
        else:
            end = t + inp.block_end[b] - inp.block_start[b]
        if inp.block_kind[b] == 0:
            S_rep.append(r); S_start.append(t); S_end.append(end); S_reason.append(inp.block_reason[b])
        else:
            B_rep.append(r); B_start.append(t); B_end.append(end)
            B_number.append(inp.block_number[b]); B_personal.append(inp.block_personal[b])
        status[r] = BLOCKED
        token[r] += 1
        push(end, EV_FREE, r)
        return True

    def rep_available(r, t):
        if logout_pending[r]:
            log_out(r, t)
            return
        queue_of_blocks = pending[r]
        while queue_of_blocks:
            if start_block(r, queue_of_blocks.popleft(), t):
                return
        leg = next_waiting(r)
        if leg >= 0 and p_game[r] > 0.0 and u() < p_game[r]:
            # Goes "busy" exactly while callers wait.
            end = t + 60 + int(240 * u())
            S_rep.append(r); S_start.append(t); S_end.append(end); S_reason.append(6)
            status[r] = BLOCKED
            token[r] += 1
            push(end, EV_FREE, r)
            return
        if leg >= 0:
            waiting[L_queue[leg]].popleft()  # next_waiting left it at the head
            offer(leg, r, t)
            return
        status[r] = IDLE
        token[r] += 1
        tok = token[r]
        for q in skills[r]:
            heappush(idle_heaps[q], (t, r, tok))

    def callback_time(t):
        t_cb = t + int(7200 * exp(1.1 * z()))
        for opens, closes in open_hours:
            if t_cb < opens:
                return opens + int(3 * 3600 * u())
            if t_cb < closes - 300:
                return t_cb
        return -1

    def finish_unresolved(leg, t):
        if u() < callback_p:
            t_cb = callback_time(t)
            if t_cb > 0:
                q = L_queue[leg] if queue_tier[L_queue[leg]] == 1 else tier1_queues[0]
                talk = queue_talk[q] * exp(0.6 * z() - 0.18)
                patience = max(2, int(-mean_patience * math.log(1.0 - u())))
                cb = new_leg(L_caller[leg], q, t_cb, -1, True, -1, talk, patience)
                push(t_cb, EV_ARRIVE, cb)

    def answer(leg, r, t):
        status[r] = ON_CALL
        L_status[leg] = CONNECTED
        L_ans[leg] = t
        L_rep[leg] = r
        L_outcome[leg] = OUT_ANSWERED
        q = L_queue[leg]
        talk = L_talk[leg] * talk_mult[r] * (1.3 if difficult[L_caller[leg]] else 1.0)
        tier1 = queue_tier[q] == 1
        x = u()
        xfer, by, resolved, early = XFER_NONE, BY_CALLER, True, False
        edge = p_early[r]
        if x < edge:
            talk, by, resolved, early = 3 + 22 * u(), BY_AGENT, False, True
        elif x < (edge := edge + p_qt[r]):
            talk, xfer = 5 + 25 * u(), XFER_QUEUE
        elif x < (edge := edge + p_tr[r]):
            talk, xfer = talk * 0.5, XFER_QUEUE
        elif tier1 and tier2_queues and x < (edge := edge + p_esc[r]):
            talk = 15 + 45 * u() if fast_esc[r] else talk * 0.7
            xfer = XFER_ESCALATION
        elif x < edge + p_ss[r]:
            talk, xfer = 20 + 40 * u(), XFER_SELF_SERVICE
        else:
            if p_linger[r] > 0.0 and u() < p_linger[r]:
                talk *= linger_mult[r] * (0.8 + 0.4 * u())
            resolved = u() < 0.9
            by = BY_AGENT if u() < 0.35 else BY_CALLER
        hold, holds, on_hold = 0, 0, False
        if not early and u() < p_hold[r]:
            holds = 1 + (u() < 0.35) + (u() < 0.1)
            hold = max(5, int(hold_mean[r] * exp(0.5 * z() - 0.125)))
            if u() < 1.0 - exp(-hold / 900.0):
                hold = max(5, int(hold * (0.3 + 0.7 * u())))
                talk *= u()
                on_hold, by, resolved, xfer = True, BY_CALLER, False, XFER_NONE
        if xfer != XFER_NONE:
            by = BY_TRANSFER
            resolved = True  # the next leg decides
            L_attended[leg] = u() < 0.4
        talk_s = max(1, int(talk))
        L_hold[leg], L_holds[leg], L_on_hold[leg] = hold, holds, on_hold
        L_xfer[leg], L_by[leg], L_resolved[leg] = xfer, by, resolved
        L_wrap[leg] = min(1800, max(3, int(wrap_mean[r] * exp(0.45 * z() - 0.1))))
        push(t + talk_s + hold, EV_END, leg, r)

    def end_call(leg, r, t):
        L_end[leg] = t
        L_status[leg] = DONE
        xfer = L_xfer[leg]
        if xfer == XFER_QUEUE or xfer == XFER_ESCALATION:
            if xfer == XFER_ESCALATION:
                target = tier2_queues[int(u() * len(tier2_queues))]
            else:
                others = [q for q in tier1_queues if q != L_queue[leg]] or tier1_queues
                target = others[int(u() * len(others))]
            L_xfer_to[leg] = target
            talk = queue_talk[target] * exp(0.6 * z() - 0.18)
            patience = max(30, int(-1.5 * mean_patience * math.log(1.0 - u())))
            nxt = new_leg(L_caller[leg], target, t + 2, leg, L_repeat[leg], -1, talk, patience)
            push(t + 2, EV_ARRIVE, nxt)
        elif xfer == XFER_NONE:
            if not L_resolved[leg]:
                finish_unresolved(leg, t)
            if u() < survey_share:
                wait = L_ans[leg] - L_enq[leg]
                score = (4.45 + csat_offset[r] - 0.9 * difficult[L_caller[leg]] - 1.8 * (not L_resolved[leg])
                         - 0.004 * max(0, wait - 60) - 0.003 * L_hold[leg] + 0.7 * z())
                L_csat[leg] = min(5, max(1, int(round(score))))
                L_csat_at[leg] = t + L_wrap[leg] + 30 + int(570 * u())
        status[r] = WRAP
        push(t + L_wrap[leg], EV_FREE, r)

    while events:
        t, kind, _, a, b, ver = heappop(events)
        if kind == EV_ARRIVE:
            leg = a
            push(t + L_patience[leg], EV_ABANDON, leg, 0, L_ver[leg])
            if not try_offer(leg, t):
                waiting[L_queue[leg]].append(leg)
        elif kind == EV_FREE:
            rep_available(a, t)
        elif kind == EV_END:
            end_call(a, b, t)
        elif kind == EV_ANSWER:
            leg, r = a, b
            if ver != L_ver[leg]:
                continue
            L_ver[leg] += 1
            O_leg.append(leg); O_rep.append(r); O_at.append(L_offer_t[leg]); O_ring.append(t - L_offer_t[leg]); O_result.append(OFFER_ANSWERED)
            answer(leg, r, t)
        elif kind == EV_MISS_RNA or kind == EV_MISS_DECLINE:
            leg, r = a, b
            if ver != L_ver[leg]:
                continue
            O_leg.append(leg); O_rep.append(r); O_at.append(L_offer_t[leg]); O_ring.append(t - L_offer_t[leg])
            O_result.append(OFFER_RING_NO_ANSWER if kind == EV_MISS_RNA else OFFER_DECLINED)
            L_missed[leg] = r
            L_status[leg] = WAITING
            status[r] = COOLDOWN
            push(t + 2, EV_FREE, r)
            if not try_offer(leg, t):
                waiting[L_queue[leg]].appendleft(leg)
        elif kind == EV_ABANDON:
            leg = a
            if ver != L_ver[leg]:
                continue
            L_ver[leg] += 1
            if L_status[leg] == LEG_RINGING:
                r = L_offer_rep[leg]
                O_leg.append(leg); O_rep.append(r); O_at.append(L_offer_t[leg]); O_ring.append(t - L_offer_t[leg])
                O_result.append(OFFER_CALLER_ABANDONED)
                rep_available(r, t)
            L_status[leg] = DONE
            L_end[leg] = t
            L_outcome[leg] = OUT_ABANDONED
            L_by[leg] = BY_CALLER
            if L_patience[leg] > 10:
                finish_unresolved(leg, t)
        elif kind == EV_BLOCK:
            r = a
            if status[r] == OFFLINE:
                continue
            if status[r] == IDLE:
                start_block(r, b, t)
            else:
                pending[r].append(b)
        elif kind == EV_LOGIN:
            login_at[a] = t
            rep_available(a, t)
        elif kind == EV_LOGOUT:
            r = a
            if status[r] == IDLE:
                log_out(r, t)
            elif status[r] != OFFLINE:
                logout_pending[r] = True

    arr = lambda xs, dtype=np.int64: np.asarray(xs, dtype=dtype)  # noqa: E731
    return {
        "leg_caller": arr(L_caller), "leg_queue": arr(L_queue, np.int16), "leg_enqueued": arr(L_enq),
        "leg_answered": arr(L_ans), "leg_ended": arr(L_end), "leg_rep": arr(L_rep), "leg_outcome": arr(L_outcome, np.int8),
        "leg_by": arr(L_by, np.int8), "leg_hold": arr(L_hold), "leg_holds": arr(L_holds), "leg_wrap": arr(L_wrap),
        "leg_xfer": arr(L_xfer, np.int8), "leg_xfer_to": arr(L_xfer_to, np.int16), "leg_on_hold": arr(L_on_hold, bool),
        "leg_attended": arr(L_attended, bool), "leg_resolved": arr(L_resolved, bool), "leg_csat": arr(L_csat, np.int8),
        "leg_csat_at": arr(L_csat_at), "leg_parent": arr(L_parent), "leg_repeat": arr(L_repeat, bool),
        "leg_arrival": arr(L_arrival),
        "offer_leg": arr(O_leg), "offer_rep": arr(O_rep), "offer_at": arr(O_at), "offer_ring": arr(O_ring),
        "offer_result": arr(O_result, np.int8),
        "pause_rep": arr(S_rep), "pause_start": arr(S_start), "pause_end": arr(S_end), "pause_reason": arr(S_reason, np.int8),
        "out_rep": arr(B_rep), "out_start": arr(B_start), "out_end": arr(B_end), "out_number": arr(B_number),
        "out_personal": arr(B_personal, bool),
        "session_rep": arr(N_rep), "session_login": arr(N_login), "session_logout": arr(N_logout),
    }
