"""`mash room` through its HTTP API, without a browser: the real command, the session's real
Redis, real event streams. A facilitator and three trainees through join, decisions, a change
of mind, pause, skip ahead and the debriefs; and each kind of bad input."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT
from tests.e2e.test_cli import mash, one_line_error
from tests.room_kit import Stream, mash_room, pid_alive


def join(base: str, code: str, name: str) -> httpx.Response:
    return httpx.post(f"{base}/api/join", json={"code": code, "name": name}, timeout=30)


def state(base: str, token: str) -> dict:
    reply = httpx.get(f"{base}/api/t/{token}/state", timeout=10)
    assert reply.status_code == 200, reply.text
    return reply.json()


def answer(base: str, token: str, key: str, level: int, rag: str, outcome: str, why: str = ""):
    return httpx.post(
        f"{base}/api/t/{token}/answer",
        json={"key": key, "level": level, "rag": rag, "outcome": outcome, "rationale": why},
        timeout=10,
    )


def act(room, action: str, **body) -> httpx.Response:
    return httpx.post(room.api(action), json=body, timeout=60)


def test_a_room_of_three_through_join_decisions_pause_and_debrief(
    redis_url: str, cli_env: dict[str, str]
) -> None:
    with mash_room(redis_url, "gemma", "--speed", "60", "--max-wait", "600", env=cli_env) as room:
        assert room.code is not None
        assert room.base.startswith("http://127.0.0.1:")  # bound to this machine only
        facilitator = Stream(room.api("events"))
        try:
            tokens = {}
            for name in ("ann", "ben", "cat"):
                reply = join(room.base, room.code.lower(), name)  # the code in any case
                assert reply.status_code == 200, reply.text
                tokens[name] = reply.json()["token"]
            # Bad input: a wrong code, a name already in the room (in any case).
            wrong = join(room.base, "ZZZZZ", "dan")
            assert wrong.status_code == 404
            assert "no room has the code 'ZZZZZ'" in wrong.json()["error"]
            taken = join(room.base, room.code, "Ann")
            assert taken.status_code == 409
            assert "already in this room" in taken.json()["error"]
            facilitator.wait_for(lambda s: len(s["room"]["trainees"]) == 3)

            assert act(room, "start").status_code == 200
            ann = state(room.base, tokens["ann"])
            (view,) = ann["open"]
            assert view["key"] == "c1/G"
            assert view["from"].startswith("the police")
            assert "going or being missing" in view["concerns"]
            assert len(view["episodes"]) == 5  # her year, not the hub's last three
            assert view["received"]["london"] == "Sat 11 Jan 2014 09:30 GMT"
            assert ["child protection plan", "yes"] in view["holds"]
            levels = ann["choices"]["levels"]
            assert levels[3]["name"] == "specialist" and levels[3]["description"]
            assert ann["choices"]["rags"][0]["description"] == "within 4 hours"

            assert answer(room.base, tokens["ann"], "c1/G", 4, "red", "strategy_discussion",
                          "on a plan, high CSE risk").status_code == 200  # fmt: skip
            assert answer(room.base, tokens["ben"], "c1/G", 2, "green", "early_help").is_success
            assert answer(room.base, tokens["cat"], "c1/G", 2, "green", "nfa").is_success
            # A change of mind before the next contact arrives.
            changed = answer(room.base, tokens["cat"], "c1/G", 4, "red", "strategy_discussion")
            assert changed.json()["answer"]["outcome"] == "strategy_discussion"

            def cat_changed(s: dict) -> bool:
                rows = {t["name"]: t for t in s["room"]["trainees"]}
                said = rows.get("cat", {}).get("answers", {}).get("c1/G", "")
                answered = all(t["answered"] == 1 for t in rows.values())
                return answered and said.startswith("level 4 (specialist), red")

            facilitator.wait_for(cat_changed)  # live: the facilitator sees the change

            # Ben's page drops and he rejoins with his link: his answer is still there.
            ben = Stream(f"{room.base}/api/t/{tokens['ben']}/events")
            ben.wait_for(lambda s: s["open"])
            ben.close()
            assert httpx.get(f"{room.base}/t/{tokens['ben']}").status_code == 200
            again = state(room.base, tokens["ben"])
            assert again["open"][0]["answer"]["outcome"] == "early_help"

            assert act(room, "pause").status_code == 200
            paused = facilitator.wait_for(lambda s: s["room"]["room"]["state"] == "paused")
            frozen = paused["room"]["room"]["event_now"]
            time.sleep(1.2)
            assert state(room.base, tokens["ann"])["room"]["event_now"] == frozen
            assert act(room, "pause").status_code == 409  # already paused: said, not ignored
            assert act(room, "resume").status_code == 200

            assert act(room, "skip").status_code == 200  # c2 arrives: c1's answers lock
            ann = state(room.base, tokens["ann"])
            assert [v["key"] for v in ann["open"]] == ["c2/G"]
            assert ann["locked"] == 1
            late = answer(room.base, tokens["ben"], "c1/G", 4, "red", "strategy_discussion")
            assert late.status_code == 409 and "closed" in late.json()["error"]
            # Ann's decision is the hub's now: the contact shows it, in words.
            assert "level 4 (specialist)" in ann["open"][0]["earlier"][0]["answer"]
            assert answer(
                room.base, tokens["ann"], "c2/G", 4, "red", "pass_to_allocated_worker"
            ).is_success
            assert answer(room.base, tokens["ben"], "c2/G", 3, "amber", "nfa").is_success
            # cat leaves c2 undecided

            assert act(room, "end").status_code == 200
            facilitator.wait_for(lambda s: s["room"]["debrief"])
        finally:
            facilitator.close()

        ben_md = httpx.get(f"{room.base}/t/{tokens['ben']}/debrief.md").text
        assert "SAFETY-CRITICAL: a level 4 contact screened as level 2" in ben_md
        assert "an open case screened as no further action" in ben_md  # c2: on a plan
        assert "What the score counts" in ben_md
        cat_md = httpx.get(f"{room.base}/t/{tokens['cat']}/debrief.md").text
        assert "not decided" in cat_md
        ann_html = httpx.get(f"{room.base}/t/{tokens['ann']}/debrief").text
        assert "on a plan, high CSE risk" in ann_html  # her rationale, in her debrief
        whole = httpx.get(f"{room.base}/f/{room.key}/debrief.md").text
        assert "### c1 / G: the room agreed" not in whole
        assert "### c1 / G: the room split" in whole
        assert "level 2, green, early help: 1" in whole
        page = httpx.get(f"{room.base}/f/{room.key}/debrief").text
        assert "Room debrief: gemma" in page
        # Every decision went through the trainees' own hubs: the board of one of them.
        assert httpx.get(f"{room.base}/f/{room.key}/debrief/ann.md").status_code == 200
        assert httpx.get(f"{room.base}/f/wrong-key/debrief").status_code == 404


def test_a_facilitator_who_closes_the_tab_leaves_the_room_paused(
    redis_url: str, cli_env: dict[str, str]
) -> None:
    with mash_room(redis_url, "gemma", "--max-wait", "600", env=cli_env) as room:
        assert room.code is not None
        page = Stream(room.api("events"))
        token = join(room.base, room.code, "eve").json()["token"]
        assert act(room, "start").status_code == 200
        page.wait_for(lambda s: s["room"]["room"]["state"] == "running")
        page.close()  # the tab closes
        deadline = time.monotonic() + 15
        while state(room.base, token)["room"]["state"] != "paused":
            assert time.monotonic() < deadline, "the room did not pause"
            time.sleep(0.2)
        said = state(room.base, token)["room"]["paused_because"]
        assert "facilitator" in said
        # The room went on: the trainee still answers, and the facilitator comes back to it.
        assert answer(room.base, token, "c1/G", 4, "red", "strategy_discussion").is_success
        back = Stream(room.api("events"))
        try:
            back.wait_for(lambda s: s["room"]["room"]["state"] == "paused")
            assert act(room, "resume").status_code == 200
            back.wait_for(lambda s: s["room"]["room"]["state"] == "running")
        finally:
            back.close()


PRIVATE = """\
name: private-room
description: A child whose id must never reach the log.
start: 2014-03-03T09:00:00Z
end: 2014-03-10T09:00:00Z
children:
  - {id: CHILD-SECRET-77, dob: 2010-05-01, sex: M}
events:
  - {id: c1, at: 0h, type: contact.received, children: [CHILD-SECRET-77], referral_source: "2A",
     concerns: ["16A"], narrative: "NARRATIVE-SECRET"}
"""


def test_no_child_id_or_free_text_reaches_the_log_at_info(
    tmp_path: Path, redis_url: str, cli_env: dict[str, str]
) -> None:
    scenario = tmp_path / "private.yaml"
    scenario.write_text(PRIVATE)
    args = (str(scenario), "--log-level", "INFO")
    with mash_room(redis_url, *args, env=cli_env) as room:
        assert room.code is not None
        token = join(room.base, room.code, "fay").json()["token"]
        assert act(room, "start").status_code == 200
        view = state(room.base, token)["open"][0]
        assert view["narrative"] == "NARRATIVE-SECRET"  # the trainee reads it...
        assert answer(room.base, token, view["key"], 2, "green", "early_help",
                      "RATIONALE-SECRET").is_success  # fmt: skip
        assert act(room, "end").status_code == 200
        assert "RATIONALE-SECRET" in httpx.get(f"{room.base}/t/{token}/debrief.md").text
        room.proc.send_signal(signal.SIGTERM)
        assert room.proc.wait(timeout=30) == 0
        time.sleep(0.2)
        log = room.output()
    assert "room opened" in log  # INFO lines were written...
    for secret in ("CHILD-SECRET-77", "NARRATIVE-SECRET", "RATIONALE-SECRET", "fay"):
        assert secret not in log  # ...and none of these is in them


def test_room_mistakes_are_one_line_and_exit_2(redis_url: str, cli_env: dict[str, str]) -> None:
    line = one_line_error(mash("room", "gemmma", env=cli_env))
    assert "gemma" in line  # the nearest names
    bad_redis = mash("room", "gemma", "--redis-url", "redis://127.0.0.1:1/0", "--port", "0",
                     env=cli_env)  # fmt: skip
    assert "cannot reach Redis at redis://127.0.0.1:1/0" in one_line_error(bad_redis)
    with mash_room(redis_url, env=cli_env, wait_code=False) as room:
        port = room.base.rsplit(":", 1)[1]
        taken = mash("room", "--redis-url", redis_url, "--port", port, env=cli_env)
        assert f"cannot listen on 127.0.0.1:{port}" in one_line_error(taken)


def test_sigterm_stops_the_room_and_its_embedded_redis(cli_env: dict[str, str]) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mash", "room", "gemma", "--port", "0"],
        cwd=str(ROOT), env={**cli_env, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("room code:"):
            break
    children = subprocess.run(
        ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    assert children, "the embedded Redis runs as a child of the room"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert proc.stderr is not None and "Traceback" not in proc.stderr.read()
    time.sleep(0.5)
    assert not any(pid_alive(int(pid)) for pid in children)


@pytest.mark.parametrize("body", [{"code": "", "name": "x"}, {"name": "x"}, []])
def test_a_join_without_a_code_is_refused_with_a_reason(
    body: object, redis_url: str, cli_env: dict[str, str]
) -> None:
    with mash_room(redis_url, "gemma", env=cli_env) as room:
        reply = httpx.post(f"{room.base}/api/join", json=body, timeout=10)
        assert reply.status_code in (400, 404)
        assert reply.json()["error"]


def test_a_facilitator_opens_a_slice_of_a_generated_year(
    redis_url: str, cli_env: dict[str, str]
) -> None:
    with mash_room(redis_url, env=cli_env, wait_code=False) as room:
        opened = act(room, "open", scenario="generated", days=2, scale=0.25, seed=3, speed=600)
        assert opened.status_code == 200, opened.text
        code = opened.json()["code"]
        again = act(room, "open", scenario="gemma")
        assert again.status_code == 409  # one room at a time
        token = join(room.base, code, "gus").json()["token"]
        assert act(room, "start").status_code == 200
        first = state(room.base, token)
        assert first["room"]["scenario"] == "borough-2013-14-seed3-2d"
        assert first["open"], "the slice's first contact is before the trainee"
        assert first["total"] >= 2
        unknown = act(room, "open", scenario="no-such-scenario")
        assert unknown.status_code == 409  # still open: the running room comes first
        assert act(room, "end").status_code == 200
        assert act(room, "open", scenario="no-such-scenario").status_code == 404
