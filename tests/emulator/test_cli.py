"""`crm-bridge emulator` as a real process: it prints the instance URL, serves, and stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

pytestmark = pytest.mark.timeout(60)


def test_emulator_command_serves_until_sigterm() -> None:
    command = [
        sys.executable,
        "-c",
        "from bridge.cli.main import main; main()",
        "emulator",
        "--port",
        "0",
        "--daily-limit",
        "7",
        "--speed",
        "0",
        "--fault",
        "unavailable:/services/data/v62.0/sobjects:1",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        assert process.stdout is not None
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            lines.append(line)
            if "control API" in line:
                break
        url = next(line.split()[-1] for line in lines if "instance URL" in line)
        assert any("client_id=emulator-client-id client_secret=emulator-client-secret" in line for line in lines)
        token = httpx.post(
            f"{url}/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "emulator-client-id",
                "client_secret": "emulator-client-secret",
            },
        ).json()
        limits = httpx.get(
            f"{url}/services/data/v62.0/limits", headers={"Authorization": f"Bearer {token['access_token']}"}
        )
        assert limits.json()["DailyApiRequests"] == {"Max": 7, "Remaining": 6}
        sobjects = f"{url}/services/data/v62.0/sobjects"
        auth = {"Authorization": f"Bearer {token['access_token']}"}
        assert [httpx.get(sobjects, headers=auth).status_code for _ in range(2)] == [503, 200]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        assert "emulator stopped" in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
