"""The remote GPU worker over a real loopback socket: pairing, failover, recovery, several clients."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest
import zmq

from conftest import ROOT, Running, moved
from core.engines.choice import EngineChoice
from core.engines.fomm import FommEngine, FommState
from core.engines.mesh import MeshEngine
from core.engines.remote import RemoteEngine
from core.errors import UserError
from core.frames import DrivingFace
from core.link.pairing import Pairing, load_or_create_keys, parse_pairing
from core.link import protocol
from core.link.protocol import Kind, Message, MessageError, decode, encode


def _faces(avatar, count=4):
    return [DrivingFace(image=moved(avatar, dx=3 * i, angle=2 * i)) for i in range(count)]


def _client(pairing, **options):
    return RemoteEngine(pairing, MeshEngine(), **options)


def test_lossless_remote_output_equals_the_local_engine(served, fomm, tiny_checkpoint, tiny_config_path,
                                                        avatar_256):
    _, pairing = served
    local = FommEngine(EngineChoice(engine="fomm", config=str(tiny_config_path), device="cpu"), tiny_checkpoint)
    remote = _client(pairing, lossless=True)
    try:
        faces = _faces(avatar_256)
        for engine in (local, remote):
            engine.set_avatar(avatar_256)
            engine.calibrate(faces[0])
        for face in faces:
            difference = np.abs(remote.animate(face).astype(int) - local.animate(face)).mean()
            assert difference <= 1.0  # at most 1/255 of the range on average
        telemetry = remote.telemetry()
        assert remote.connected and telemetry["remote_rtt_ms_p50"] > 0 and telemetry["remote_frames_lost"] == 0
    finally:
        remote.close()


def test_a_batch_of_clients_gives_each_its_own_avatar_as_if_alone(fomm, avatar_256):
    tinted = avatar_256.copy()
    tinted[..., 2] = 255
    states = [FommState(), FommState()]
    driving = _faces(avatar_256, 2)
    for state, avatar in zip(states, (avatar_256, tinted)):
        fomm.set_state_avatar(state, avatar)
        fomm.calibrate_state(state, driving[0].image)
    together = fomm.animate_batch(states, [driving[1].image, driving[1].image])
    alone = [fomm.animate_batch([state], [driving[1].image])[0] for state in states]
    for a, b in zip(together, alone):
        assert np.abs(a.astype(int) - b).max() <= 1
    assert np.abs(together[0].astype(int) - together[1]).mean() > 5  # two avatars, two pictures


def test_two_clients_at_once_each_get_their_own_avatar(served, avatar_256, tiny_checkpoint, tiny_config_path):
    _, pairing = served
    tinted = avatar_256.copy()
    tinted[..., 0] = 255
    clients = [_client(pairing, lossless=True), _client(pairing, lossless=True)]
    results = [[], []]

    def drive(index, avatar):
        engine = clients[index]
        engine.set_avatar(avatar)
        faces = _faces(avatar_256, 6)
        engine.calibrate(faces[0])
        for face in faces:
            results[index].append(engine.animate(face))

    threads = [threading.Thread(target=drive, args=(i, a)) for i, a in enumerate((avatar_256, tinted))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    try:
        assert all(c.connected for c in clients) and all(len(r) == 6 for r in results)
        assert served[0].worker.clients == 2
        faces = _faces(avatar_256, 6)
        for avatar, received in zip((avatar_256, tinted), results):  # each as if it had the worker alone
            alone = FommEngine(EngineChoice(engine="fomm", config=str(tiny_config_path), device="cpu"),
                               tiny_checkpoint)
            alone.set_avatar(avatar)
            alone.calibrate(faces[0])
            for face, picture in zip(faces, received):
                assert np.abs(picture.astype(int) - alone.animate(face)).mean() <= 1.0
        assert np.abs(results[0][-1].astype(int) - results[1][-1]).mean() > 1  # and not each other's
    finally:
        for client in clients:
            client.close()


def test_a_client_with_another_pairing_is_refused_with_one_message(served, tmp_path):
    _, pairing = served
    _, stranger = zmq.curve_keypair()
    started = time.monotonic()
    with pytest.raises(UserError, match="refused this pairing"):
        _client(Pairing(pairing.host, pairing.port, pairing.server_public, stranger))
    assert time.monotonic() - started < 6


def test_a_wrong_server_key_is_an_error_within_seconds_never_a_hang(served):
    _, pairing = served
    impostor, _ = zmq.curve_keypair()
    started = time.monotonic()
    with pytest.raises(UserError, match="remote worker at 127.0.0.1"):
        _client(Pairing(pairing.host, pairing.port, impostor, pairing.client_secret), connect_timeout=3)
    assert time.monotonic() - started < 6


def test_nobody_listening_is_an_error_within_seconds(keys):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(UserError, match="did not answer within 2 s"):
        _client(keys.pairing("127.0.0.1", port), connect_timeout=2)


def test_garbage_on_the_port_and_malformed_messages_never_stop_the_worker(served, avatar_256):
    running, pairing = served
    for garbage in (os.urandom(4096), b"\xff" * 64 + b"GET / HTTP/1.1\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", pairing.port)) as raw:
            try:
                raw.sendall(garbage)
                raw.recv(64)
            except ConnectionResetError:
                pass  # the worker hung up on it: what it should do
    # A paired client sending nonsense: bad JSON, an unknown type, a huge declared image.
    context = zmq.Context.instance()
    rogue = context.socket(zmq.DEALER)
    rogue.curve_serverkey = pairing.server_public
    rogue.curve_secretkey, rogue.curve_publickey = pairing.client_secret, pairing.client_public
    rogue.connect(pairing.address)
    bomb = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + (60000).to_bytes(4, "big") * 2 + b"\x08\x02\x00\x00\x00"
    deep = b'{"v":1,"type":"ping","seq":1,"x":' + b"[" * 1000 + b"]" * 1000 + b"}"  # RecursionError in json
    for parts in ([b"{not json"], [b'{"v":1,"type":"launch","seq":1}'], [b'{"v":1,"type":"frame","seq":1}', bomb],
                  [b"a", b"b", b"c"], [deep], [b"\xff\xfe{}"]):
        rogue.send_multipart(parts)
    time.sleep(0.3)
    rogue.close(0)
    client = _client(pairing)
    try:
        client.set_avatar(avatar_256)
        client.animate(_faces(avatar_256, 1)[0])
        assert client.connected and running._thread.is_alive()
    finally:
        client.close()


def test_worker_killed_mid_run_falls_back_then_recovers_with_the_avatar_and_neutral_pose(fomm, keys, avatar_256):
    running = Running(fomm, keys, "tcp://127.0.0.1:*")
    port = running.worker.port
    events = []
    client = RemoteEngine(keys.pairing("127.0.0.1", port), MeshEngine(), lossless=True, reply_timeout=0.5,
                          on_event=lambda problem, text: events.append((problem, text)))
    faces = _faces(avatar_256, 5)
    try:
        client.set_avatar(avatar_256)
        client.calibrate(faces[0])
        before = client.animate(faces[3])
        running.stop()  # the worker dies
        fallback = client.animate(faces[3])
        assert not client.connected and events and events[-1][0] and "local mesh engine" in events[-1][1]
        assert fallback.shape[0] == avatar_256.shape[0]  # the mesh engine rendered it
        assert client.pinned_border  # and it is pasted back as a mesh face
        running = Running(fomm, keys, f"tcp://127.0.0.1:{port}")  # the worker is back, with no state
        deadline = time.monotonic() + 10
        while not client.connected and time.monotonic() < deadline:
            client.animate(faces[1])
            time.sleep(0.05)
        assert client.connected and not events[-1][0] and "answers again" in events[-1][1]
        after = client.animate(faces[3])
        # The replayed avatar and neutral pose: the same picture as before the worker died.
        assert np.abs(after.astype(int) - before).mean() <= 1.0
        assert client.telemetry()["remote_frames_lost"] >= 1
    finally:
        client.close()
        running.stop()


def test_pairing_strings_round_trip_and_bad_ones_say_what_to_do(keys, tmp_path):
    pairing = keys.pairing("gpu.example.org", 5555)
    assert parse_pairing(str(pairing)) == pairing
    file = tmp_path / "pairing.txt"
    file.write_text(f"{pairing}\n")
    assert parse_pairing(str(file)) == pairing
    for bad in ("facade1@host/abc/def", "tcp://host:5555", str(pairing)[:-2]):
        with pytest.raises(UserError, match="not a pairing string") as error:
            parse_pairing(bad)
        assert "serve" in error.value.advice
    assert load_or_create_keys(tmp_path / "keys.json") == load_or_create_keys(tmp_path / "keys.json")
    assert (tmp_path / "keys.json").stat().st_mode & 0o077 == 0  # readable by the user alone


def test_messages_round_trip_and_nonsense_is_refused(avatar_256):
    message = Message(Kind.FRAME, 7, {"worker_ms": 3.5}, avatar_256)
    back = decode(encode(message, lossless=True))
    assert (back.kind, back.seq, back.fields) == (Kind.FRAME, 7, {"worker_ms": 3.5})
    assert np.array_equal(back.image, avatar_256)
    assert np.abs(decode(encode(message)).image.astype(int) - avatar_256).mean() < 3  # JPEG: close
    for parts in ([b"\x80\x04pickle"], [b'{"v":2,"type":"frame","seq":1}'], [b'{"v":1,"type":"frame","seq":"x"}'],
                  [b'{"v":1,"type":"frame","seq":1}', b"not an image"], []):
        with pytest.raises(MessageError):
            decode(parts)


def test_serve_prints_a_pairing_a_client_uses_and_stops_cleanly_on_sigterm(tmp_path, tiny_checkpoint,
                                                                          tiny_config_path, avatar_256):
    pairing_file = tmp_path / "pairing.txt"
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), "serve", "--bind", "tcp://127.0.0.1:0", "--checkpoint",
         str(tiny_checkpoint), "--config", str(tiny_config_path), "--device", "cpu", "--keys",
         str(tmp_path / "keys.json"), "--pairing-file", str(pairing_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("facade1@") and pairing_file.read_text().strip() == line
        client = _client(parse_pairing(str(pairing_file)))
        client.set_avatar(avatar_256)
        face = _faces(avatar_256, 1)[0]
        # A fresh worker's first frames can miss the live deadline on a loaded machine (the client then shows
        # its local engine's): it counts once a frame comes back from the worker.
        for _ in range(20):
            picture = client.animate(face)
            if client.connected:
                break
        assert client.connected and picture.shape == (client.resolution, client.resolution, 3)
        client.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
        assert "stopping" in process.stderr.read()
    finally:
        process.kill()


def test_a_bad_remote_option_is_one_error_line(capsys, tmp_path):
    from main import main

    code = main(["run", "--camera", "0", "--avatar", str(ROOT / "assets/avatars/astronaut.png"),
                 "--remote", "nonsense", "--max-frames", "1", "--virtual-cam"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: --remote nonsense: not a pairing string") and err.count("\n") == 1


def test_a_client_that_closes_frees_its_place_at_once(served, avatar_256):
    running, pairing = served
    client = _client(pairing)
    client.set_avatar(avatar_256)
    assert running.worker.clients == 1
    client.close()
    deadline = time.monotonic() + 3
    while running.worker.clients and time.monotonic() < deadline:
        time.sleep(0.05)
    assert running.worker.clients == 0  # not after the 60 s idle timeout: 16 places are soon taken


def test_a_deeply_nested_header_is_refused_before_it_is_parsed(monkeypatch):
    parsed = []
    real = protocol.json.loads
    monkeypatch.setattr(protocol.json, "loads", lambda text: parsed.append(text) or real(text))
    for depth in (3, 1000):
        header = b'{"v":1,"type":"ping","seq":1,"x":' + b"[" * depth + b"]" * depth + b"}"
        with pytest.raises(MessageError, match="nested"):
            decode([header])
    assert not parsed
    # Brackets inside strings are text, not nesting.
    assert decode([b'{"v":1,"type":"error","seq":1,"message":"[[[\\"{{{"}']).fields == {"message": '[[["{{{'}


def _jpeg(width: int, height: int) -> bytes:
    ok, data = cv2.imencode(".jpg", np.full((height, width, 3), 90, np.uint8))
    return data.tobytes()


def test_a_jpeg_declaring_a_huge_size_is_refused_before_it_is_decoded(monkeypatch):
    """Markers read as the JPEG standard says: a TEM (FF01) has no length, so it cannot hide the frame header
    behind a fake one (an 8x8 SOF in a comment where a wrong reader lands) from the size check."""
    real = _jpeg(16, 16)
    sof = real.index(b"\xff\xc0")
    huge = real[:sof + 5] + (16000).to_bytes(2, "big") * 2 + real[sof + 9:]
    fake_sof = b"\xff\xc0\x00\x11\x08\x00\x08\x00\x08\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    # A wrong reader takes FF01's next two bytes (FF FE, a comment marker) as a length and lands at 65538,
    # inside the second comment, on the fake frame header.
    first = b"\xff\xfe" + (65000).to_bytes(2, "big") + bytes(64998)
    second_payload = bytearray(1000)
    landing = 65538 - (4 + len(first) + 4)
    second_payload[landing:landing + len(fake_sof)] = fake_sof
    second = b"\xff\xfe" + (2 + len(second_payload)).to_bytes(2, "big") + bytes(second_payload)
    bomb = huge[:2] + b"\xff\x01" + first + second + huge[2:]
    assert bomb[65538:65540] == b"\xff\xc0"
    decoded = []
    monkeypatch.setattr(protocol.cv2, "imdecode", lambda *a: decoded.append(a))
    with pytest.raises(MessageError, match="16000x16000"):
        decode([b'{"v":1,"type":"frame","seq":1}', bomb])
    assert not decoded
    # Standalone markers (TEM, RST0) before the frame header are stepped over, not read as lengths.
    assert protocol._declared_size(real[:2] + b"\xff\x01\xff\xd0" + real[2:]) == (16, 16)


@pytest.mark.parametrize("bind, expected", [
    ("tcp://127.0.0.1:99999", "port 99999 is out of range (0 to 65535)"),
    ("ipc:///tmp/facade.sock", "a worker serves over TCP only"),
    ("127.0.0.1:5555", "a worker serves over TCP only"),
    ("tcp://127.0.0.1", "not tcp://HOST:PORT"),
])
def test_a_bind_address_that_cannot_be_served_is_one_error_line(capsys, tmp_path, bind, expected):
    from main import main

    code = main(["serve", "--bind", bind, "--checkpoint", str(tmp_path / "none.pth.tar")])
    err = capsys.readouterr().err.splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith(f"error: --bind {bind}: {expected}")


def test_the_worker_refuses_a_port_out_of_range_too(fomm, keys):
    with pytest.raises(UserError, match="out of range"):
        Running(fomm, keys, "tcp://127.0.0.1:65536")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")
def test_a_keys_file_others_can_read_is_made_private_with_a_warning(tmp_path, caplog):
    path = tmp_path / "keys.json"
    keys = load_or_create_keys(path)
    path.chmod(0o644)
    assert load_or_create_keys(path) == keys
    assert path.stat().st_mode & 0o777 == 0o600
    assert any(str(path) in r.getMessage() and "readable by other users" in r.getMessage() for r in caplog.records)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")
def test_the_pairing_string_is_kept_in_a_private_file_not_in_the_settings(tmp_path, keys):
    from app import settings as app_settings

    pairing = str(keys.pairing("gpu.example.org", 5555))
    secret = pairing.rsplit("/", 1)[1]
    ini = tmp_path / "s.ini"
    store = app_settings.open_settings(ini)
    app_settings.save(store, app_settings.AppSettings(engine=EngineChoice(engine="remote", remote=pairing)))
    kept = app_settings.pairing_file(store)
    assert secret not in ini.read_text() and kept.read_text().strip() == pairing
    assert kept.stat().st_mode & 0o777 == 0o600
    assert app_settings.load(app_settings.open_settings(ini)).engine.remote == pairing
    # One an earlier version saved in clear is moved to the private file when the settings are read.
    kept.unlink()
    store.setValue("remote", pairing)
    store.sync()
    assert app_settings.load(app_settings.open_settings(ini)).engine.remote == pairing
    assert secret not in ini.read_text() and kept.stat().st_mode & 0o777 == 0o600
    # Cleared: the file goes too.
    app_settings.save(store, app_settings.AppSettings())
    assert not kept.exists() and app_settings.load(app_settings.open_settings(ini)).engine.remote == ""


def _slow(monkeypatch, fomm, seconds):
    """The worker's engine takes ``seconds`` more for every batch of frames (a CPU worker, a busy GPU);
    returns the list of frames it was asked to animate."""
    asked, animate_batch = [], fomm.animate_batch

    def slow(states, images):
        time.sleep(seconds)
        asked.extend(images)
        return animate_batch(states, images)

    monkeypatch.setattr(fomm, "animate_batch", slow)
    return asked


def test_animate_waits_for_a_worker_slower_than_a_second_and_uses_no_other_engine(served, fomm, monkeypatch,
                                                                                  capsys, tmp_path, astronaut):
    from conftest import ASTRONAUT, camera_clip
    from main import main

    _, pairing = served
    asked = _slow(monkeypatch, fomm, 1.3)
    animated, animate = [], RemoteEngine.animate
    monkeypatch.setattr(RemoteEngine, "animate", lambda self, face: animated.append(face) or animate(self, face))
    clip = camera_clip(tmp_path / "short.mp4", astronaut, 2)
    out = tmp_path / "out.mp4"
    code = main(["animate", "--avatar", str(ASTRONAUT), "--driving", str(clip), "--out", str(out),
                 "--remote", str(pairing)])
    err = capsys.readouterr().err
    assert code == 0 and out.is_file() and "mesh" not in err
    assert len(animated) == 2 and len(asked) == 2  # every frame is the worker's


def test_animate_without_an_answer_in_time_is_one_error_line_and_no_output(served, fomm, monkeypatch, capsys,
                                                                          tmp_path, driving_clip):
    from conftest import ASTRONAUT
    from main import main

    _, pairing = served
    _slow(monkeypatch, fomm, 1.5)
    monkeypatch.setattr("core.engines.factory.OFFLINE_REPLY_TIMEOUT", 0.5)
    out = tmp_path / "out.mp4"
    code = main(["animate", "--avatar", str(ASTRONAUT), "--driving", str(driving_clip), "--out", str(out),
                 "--remote", str(pairing)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and not out.exists()
    assert err.startswith(f"error: the remote worker did not answer within 0.5 s (at 127.0.0.1:{pairing.port})")


def test_live_the_wait_for_an_answer_follows_the_worker_measured_time(served, fomm, monkeypatch, avatar_256):
    _, pairing = served
    asked = _slow(monkeypatch, fomm, 0.5)
    events = []
    client = _client(pairing, reply_timeout=0.2, on_event=lambda problem, text: events.append((problem, text)))
    faces = _faces(avatar_256, 2)
    try:
        client.set_avatar(avatar_256)
        client.calibrate(faces[0])
        client.animate(faces[1])  # 0.5 s: late for the first wait, which knew nothing of this worker yet
        assert not client.connected and "did not answer within" in events[-1][1]
        deadline = time.monotonic() + 10
        while not client.connected and time.monotonic() < deadline:
            client.animate(faces[1])  # the mesh engine renders meanwhile; the late answer measured the worker
            time.sleep(0.05)
        assert client.connected and "answers again" in events[-1][1]
        before = len(asked)
        for _ in range(3):
            client.animate(faces[1])
        assert client.connected and len(asked) == before + 3 and len(events) == 2  # no more falling back
    finally:
        client.close()
