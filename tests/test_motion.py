"""The GRBL planner model: trapezoids, junction speeds, look-ahead, syncs and feed hold, in machine time."""

from __future__ import annotations

import math

import pytest

from plotter.errors import GcodeError, ProfileError
from plotter.plan.motion import Kinematics, PlannerQueue, junction_speed_sqr

KIN = Kinematics(max_rate=(5000.0, 5000.0, 500.0), accel=(500.0, 500.0, 100.0), junction_deviation=0.01)


def run_all(q: PlannerQueue) -> list:
    done = []
    while not q.idle:
        done += q.advance(q.time_to_next_completion())
    return done


def test_single_long_move_reaches_nominal_speed():
    q = PlannerQueue(KIN)
    q.push_line((100.0, 0.0, 0.0), 3000.0)
    v, a = 50.0, 500.0
    assert q.time_to_next_completion() == pytest.approx(100.0 / v + v / a)
    q.advance(1.0)  # mid-cruise
    assert q.speed == pytest.approx(v)
    assert q.position[0] == pytest.approx(0.5 * a * 0.1**2 + v * 0.9)
    run_all(q)
    assert q.time == pytest.approx(2.1)
    assert q.position == (100.0, 0.0, 0.0) and q.speed == 0.0


def test_short_move_is_a_triangle():
    q = PlannerQueue(KIN)
    q.push_line((1.0, 0.0, 0.0), 3000.0)  # needs 2.5 mm to reach 50 mm/s
    run_all(q)
    assert q.time == pytest.approx(2.0 * math.sqrt(1.0 / 500.0))


def test_feed_capped_by_axis_max_rate_along_direction():
    q = PlannerQueue(KIN)
    q.push_line((0.0, 0.0, 10.0), 3000.0)  # Z max 500 mm/min, accel 100 mm/s^2
    v, a = 500.0 / 60.0, 100.0
    assert q.time_to_next_completion() == pytest.approx(10.0 / v + v / a)
    q2 = PlannerQueue(KIN)
    q2.push_line((100.0, 0.0, 0.0), None, rapid=True)
    assert q2.time_to_next_completion() == pytest.approx(100.0 / (5000 / 60) + (5000 / 60) / 500.0)


def test_right_angle_junction_matches_grbl_formula():
    q = PlannerQueue(KIN)
    q.push_line((100.0, 0.0, 0.0), 3000.0)
    q.push_line((100.0, 100.0, 0.0), 3000.0)
    (first,) = q.advance(q.time_to_next_completion())
    sin_half = math.sqrt(0.5)  # theta = 90 degrees
    j_accel = 500.0 / math.sqrt(0.5)  # (u2 - u1) is diagonal: each axis carries 1/sqrt(2) of it
    expected = math.sqrt(j_accel * 0.01 * sin_half / (1 - sin_half))
    assert first.speed == pytest.approx(expected)
    assert expected == pytest.approx(4.13, abs=0.01)  # about 248 mm/min, as GRBL users see at corners


def test_junction_limits_reversal_and_straight_on():
    assert junction_speed_sqr((1, 0, 0), (-1, 0, 0), KIN) == 0.0
    assert junction_speed_sqr((1, 0, 0), (1, 0, 0), KIN) == math.inf
    shallow = junction_speed_sqr((1, 0, 0), (math.cos(0.1), math.sin(0.1), 0), KIN)
    sharp = junction_speed_sqr((1, 0, 0), (math.cos(2.0), math.sin(2.0), 0), KIN)
    assert shallow > sharp > 0


def test_collinear_segments_do_not_slow_down():
    one = PlannerQueue(KIN)
    one.push_line((100.0, 0.0, 0.0), 3000.0)
    run_all(one)
    many = PlannerQueue(KIN)
    for i in range(1, 11):
        many.push_line((10.0 * i, 0.0, 0.0), 3000.0)
    speeds = [p.speed for p in run_all(many)]
    assert many.time == pytest.approx(one.time)
    assert speeds[1:-1] == pytest.approx([50.0] * 8)


def test_short_lookahead_forces_slower_plans():
    times = []
    for size in (1, 3, 15):
        q = PlannerQueue(KIN, size=size)
        targets = [(0.5 * i, 0.0, 0.0) for i in range(1, 121)]
        while targets or not q.idle:
            while targets and q.push_line(targets[0], 3000.0):
                targets.pop(0)
            q.advance(q.time_to_next_completion())
        times.append(q.time)
    assert times[0] > times[1] > times[2]
    assert times[0] == pytest.approx(120 * 2.0 * math.sqrt(0.5 / 500.0))  # stop after every block


def test_full_queue_refuses_and_len_counts_blocks():
    q = PlannerQueue(KIN, size=2)
    assert q.push_line((1, 0, 0), 1000) and q.push_line((2, 0, 0), 1000)
    assert q.is_full() and len(q) == 2
    assert q.push_line((3, 0, 0), 1000) is False
    assert q.push_line((2, 0, 0), 1000) is False  # even an empty move waits for room


def test_dwell_is_a_full_stop_and_takes_its_time():
    q = PlannerQueue(KIN)
    q.push_line((50.0, 0.0, 0.0), 3000.0, tag=1)
    q.push_dwell(0.5, tag=2)
    q.push_line((100.0, 0.0, 0.0), 3000.0, tag=3)
    assert q.synchronizing
    done = run_all(q)
    assert [p.tag for p in done] == [1, 2, 3]
    assert done[0].speed == 0.0
    assert done[1].time_s - done[0].time_s == pytest.approx(0.5)
    assert q.time == pytest.approx(2 * 1.1 + 0.5)  # two separate 50 mm moves from rest


def test_event_jumps_and_small_steps_agree():
    pts = [(10.0 * (i % 3), 7.0 * (i % 5), 0.0) for i in range(1, 40)]

    def drive(step: float | None) -> float:
        q = PlannerQueue(KIN)
        todo = list(pts)
        while todo or not q.idle:
            while todo and q.push_line(todo[0], 2000.0):
                todo.pop(0)
            q.advance(q.time_to_next_completion() if step is None else step)
        return max(q.time, 0.0), q

    t_events, _ = drive(None)
    t_steps, q = drive(0.001)
    assert t_steps == pytest.approx(t_events, abs=0.0011)
    assert q.position == pts[-1]


def test_starved_planner_stops_between_blocks():
    fed = PlannerQueue(KIN)
    fed.push_line((50.0, 0.0, 0.0), 3000.0)
    fed.push_line((100.0, 0.0, 0.0), 3000.0)
    run_all(fed)
    starved = PlannerQueue(KIN)
    starved.push_line((50.0, 0.0, 0.0), 3000.0)
    run_all(starved)
    starved.push_line((100.0, 0.0, 0.0), 3000.0)  # arrives after the machine stopped
    run_all(starved)
    assert starved.time == pytest.approx(2 * 1.1) and fed.time == pytest.approx(2.1)


def test_feed_hold_decelerates_then_resumes():
    q = PlannerQueue(KIN)
    q.push_line((100.0, 0.0, 0.0), 3000.0, tag="a")
    q.advance(1.0)
    x0 = q.position[0]
    q.feed_hold()
    assert q.resume() is False  # still decelerating
    t_stop = q.time_to_next_completion()
    assert t_stop == pytest.approx(50.0 / 500.0)
    assert q.advance(t_stop) == [] and q.hold_complete and q.speed == 0.0
    assert q.position[0] == pytest.approx(x0 + 50.0**2 / (2 * 500.0))
    assert q.time_to_next_completion() == math.inf
    q.advance(5.0)
    assert q.resume() and not q.holding
    assert [p.tag for p in run_all(q)] == ["a"]
    assert q.position == (100.0, 0.0, 0.0)


def test_bad_input_raises_plotter_errors():
    with pytest.raises(ProfileError, match="accel"):
        Kinematics(accel=(0.0, 500.0, 100.0))
    with pytest.raises(ProfileError, match="junction_deviation"):
        Kinematics(junction_deviation=-1)
    with pytest.raises(GcodeError, match="feed"):
        PlannerQueue(KIN).push_line((1, 0, 0), 0.0)
    with pytest.raises(GcodeError, match="dwell"):
        PlannerQueue(KIN).push_dwell(-1.0)


def test_feed_hold_decelerates_across_block_boundaries_and_accepts_pushes():
    q = PlannerQueue(KIN)
    for x in (5.0, 10.0, 15.0):
        q.push_line((x, 0.0, 0.0), 3000.0, tag=x)
    q.advance(0.12)  # at full speed, 3.5 mm in: braking takes 2.5 mm, past the end of block 1
    x0, v0 = q.position[0], q.speed
    assert v0 == pytest.approx(50.0)
    q.feed_hold()
    done = []
    while not q.hold_complete:
        done += q.advance(q.time_to_next_completion())
    assert [p.tag for p in done] == [5.0]  # the first block ended while braking
    assert q.position[0] == pytest.approx(x0 + v0**2 / (2 * 500.0))
    assert q.push_line((20.0, 0.0, 0.0), 3000.0, tag=20.0)  # the sender keeps streaming during a hold
    assert q.resume()
    assert [p.tag for p in run_all(q)] == [10.0, 15.0, 20.0]
    assert q.position == (20.0, 0.0, 0.0)


def test_clear_drops_the_queue_and_keeps_the_position():
    q = PlannerQueue(KIN)
    q.push_line((100.0, 0.0, 0.0), 3000.0)
    q.advance(0.5)
    here = q.position
    q.clear()
    assert q.idle and len(q) == 0 and q.speed == 0.0 and q.position == here
    q.push_line((here[0] + 10.0, 0.0, 0.0), 3000.0)  # planned from where the machine stopped
    run_all(q)
    assert q.position[0] == pytest.approx(here[0] + 10.0)
