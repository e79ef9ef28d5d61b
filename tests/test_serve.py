"""The REST API (cgan.serve) through a real uvicorn server on 127.0.0.1, and `cgan serve` start-up."""

from __future__ import annotations

import argparse
import asyncio
import base64
import http.client
import io
import json
import math
import re
import shutil
import socket
import threading
from urllib.parse import unquote

import httpx
import numpy as np
import pytest
from fastapi import HTTPException
from live_server import running
from PIL import Image

from cgan.cli.serve import add_parser, default_allowed_hosts
from cgan.errors import CganError
from cgan.generation import load_generator
from cgan.images import make_grid, png_bytes
from cgan.run_folder import BUNDLED_DIR
from cgan.serve import MAX_BODY_BYTES, MAX_PIXELS, MAX_SEED, GenerationPool, create_app


@pytest.fixture(scope="module")
def client():
    with running(create_app()) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client


def picture(content: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(content)))


def post(client, path: str, **body) -> httpx.Response:
    response = client.post(path, json=body)
    assert response.status_code == 200, response.text
    return response


def test_health_and_models(client):
    assert client.get("/health").json() == {
        "status": "ok",
        "models": ["mnist", "fashion-mnist"],
        "requests_in_hand": 0,
    }
    models = {m["name"]: m for m in client.get("/models").json()}
    assert list(models) == ["mnist", "fashion-mnist"]
    assert models["fashion-mnist"]["dataset"] == "fashion-mnist"
    assert models["fashion-mnist"]["classes"][7] == "sneaker"
    assert models["mnist"]["classes"] == [str(d) for d in range(10)]
    card = models["mnist"]["card"]
    assert card["title"] == "Bundled mnist generator" and "cgan train --dataset mnist" in card["summary"]
    assert client.get("/openapi.json").json()["paths"].keys() >= {"/generate", "/gen_images", "/interpolate"}


def test_the_schema_names_the_models_the_classes_and_every_answer(client):
    schema = client.get("/openapi.json").json()
    for path, label_field in (("/generate", "label"), ("/interpolate", "end")):
        body = schema["paths"][path]["post"]["requestBody"]
        assert body["required"]
        fields = body["content"]["application/json"]["schema"]["properties"]
        model = next(option for option in fields["model"]["anyOf"] if option.get("type") == "string")
        assert model["enum"] == ["mnist", "fashion-mnist"]
        label = fields[label_field]
        label = label if path == "/generate" else label["anyOf"][0]  # end may be null
        index, class_name = label["anyOf"]
        assert (index["type"], index["minimum"], index["maximum"]) == ("integer", 0, 9)
        assert {"0", "9", "sneaker", "ankle-boot"} <= set(class_name["enum"])
        assert fields["seed"]["anyOf"][0]["type"] == "integer"
    for path, answer in (("/generate", "GeneratedImages"), ("/interpolate", "Interpolation"), ("/gen_images", None)):
        responses = schema["paths"][path]["post"]["responses"]
        assert set(responses) == {"200", "400", "413", "422", "503"}
        ok = responses["200"]["content"]
        assert ok.get("application/json", {}).get("schema") == (
            {"$ref": f"#/components/schemas/{answer}"} if answer else None
        )
        assert {"X-Seed", "X-Model"} <= set(responses["200"]["headers"])
        for status in ("400", "413", "422", "503"):
            assert "$ref" in responses[status]["content"]["application/json"]["schema"]
    for path, answer in (("/models", "ModelInfo"), ("/health", "Health")):
        responses = schema["paths"][path]["get"]["responses"]
        assert set(responses) == {"200", "400"}
        assert answer in json.dumps(responses["200"]["content"]["application/json"]["schema"])


def test_the_api_docs_load_nothing_from_elsewhere(client):
    html = client.get("/docs").text
    assert "http://" not in html and "https://" not in html, html
    assets = re.findall(r'(?:src|href)="(/[^"]+)"', html)
    assert len(assets) == 3 and all(client.get(asset).status_code == 200 for asset in assets), assets


def test_gen_images_takes_the_body_of_earlier_demos(client):
    one = post(client, "/gen_images", value=9, grid=False, grid_size=0)
    assert one.headers["content-type"] == "image/png"
    assert picture(one.content).shape == (28, 28)
    assert 0 <= int(one.headers["x-seed"]) <= MAX_SEED and one.headers["x-model"] == "mnist"
    grid = post(client, "/gen_images", value=9, grid=True, grid_size=3)
    assert picture(grid.content).shape == (3 * 30 + 2, 3 * 30 + 2)  # 28-pixel images, 2-pixel gaps


def test_generate_draws_what_the_library_draws(client):
    response = post(client, "/generate", model="fashion-mnist", label="sneaker", count=4, seed=5, scale=2)
    expected = load_generator("fashion-mnist").generate(["sneaker"] * 4, seed=5)
    assert response.content == png_bytes(make_grid(expected, 2), 2)
    assert response.headers["x-seed"] == "5" and response.headers["x-model"] == "fashion-mnist"


def test_generate_json_has_one_png_per_image_and_the_seed(client):
    body = post(client, "/generate", label=3, count=3, scale=2, format="json").json()
    assert (body["model"], body["label"], body["class_name"], len(body["images"])) == ("mnist", 3, "3", 3)
    assert all(picture(base64.b64decode(image)).shape == (56, 56) for image in body["images"])
    again = post(client, "/generate", label=3, count=3, scale=2, format="json", seed=body["seed"]).json()
    assert again == body


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/gen_images", {"value": 4, "grid": True, "grid_size": 2}),
        ("/generate", {"label": "ankle boot", "model": "fashion-mnist", "count": 5}),
        ("/interpolate", {"start": 1, "end": 7, "steps": 5}),
        ("/interpolate", {"start": 2, "steps": 5, "format": "json"}),
    ],
)
def test_same_seed_same_bytes_and_the_seed_is_returned(client, path, body):
    first = post(client, path, **body)  # no seed: the server picks one and says which
    seed = int(first.headers["x-seed"])
    assert post(client, path, **body, seed=seed).content == first.content
    assert post(client, path, **body, seed=(seed + 1) % MAX_SEED).content != first.content


def test_interpolate_between_classes_is_a_looping_gif(client):
    response = post(client, "/interpolate", start=1, end=7, steps=6, count=2, scale=2, seed=3)
    assert response.headers["content-type"] == "image/gif"
    gif = Image.open(io.BytesIO(response.content))
    assert gif.size == ((2 * 30 + 2) * 2, 32 * 2)
    assert gif.n_frames == 6 + 4  # forward, then back without repeating the ends
    # The noise stays fixed along the way, so the first frame depends on the start class only.
    other = post(client, "/interpolate", start=1, end=3, steps=6, count=2, scale=2, seed=3, bounce=False)
    gif.seek(0)
    first = np.asarray(gif.convert("L"))
    assert np.array_equal(first, np.asarray(Image.open(io.BytesIO(other.content)).convert("L")))


def test_interpolate_within_a_class_as_json_frames(client):
    body = post(
        client, "/interpolate", model="fashion-mnist", start="bag", steps=4, format="json", seed=2
    ).json()
    assert (body["start"], body["end"], body["seed"], len(body["frames"])) == (8, None, 2, 4)
    frames = [picture(base64.b64decode(frame)) for frame in body["frames"]]
    assert frames[0].shape == (32, 32)
    assert not np.array_equal(frames[0], frames[-1])


@pytest.mark.parametrize(
    ("path", "body", "field", "message"),
    [
        ("/generate", {"label": 1, "count": 999}, "count", "must be 1-256, got 999"),
        ("/generate", {"label": 1, "count": 0}, "count", "must be 1-256, got 0"),
        ("/generate", {"label": 1, "scale": 9}, "scale", "must be 1-8, got 9"),
        ("/generate", {"label": 1, "seed": -1}, "seed", f"must be 0-{MAX_SEED}, got -1"),
        ("/generate", {"label": 12}, "label", "out of range; use 0-9"),
        (
            "/generate",
            {"label": "cat", "model": "fashion-mnist"},
            "label",
            "use an index 0-9 or one of: t-shirt",
        ),
        ("/generate", {"label": 1, "model": "cifar"}, "model", "served models: mnist, fashion-mnist"),
        ("/generate", {"label": 1, "format": "bmp"}, "format", "'png' or 'json'"),
        ("/generate", {"label": 1, "lable": 1}, "lable", "Extra inputs are not permitted"),
        ("/generate", {"label": True}, "label", "must be a class index or a class name"),
        ("/generate", {"label": ""}, "label", "must be a class index or a class name of 1-64 characters"),
        ("/gen_images", {"value": 9, "grid": True, "grid_size": 17}, "grid_size", "must be 0-16, got 17"),
        (
            "/gen_images",
            {"value": 9, "grid": True, "grid_size": 0},
            "grid_size",
            "must be 1-16 when grid is true",
        ),
        ("/gen_images", {"value": 10, "grid": False, "grid_size": 0}, "value", "use 0-9"),
        ("/interpolate", {"start": 1, "end": 2, "steps": 65}, "steps", "must be 2-64, got 65"),
        ("/interpolate", {"start": 1, "end": "eleven"}, "end", "unknown mnist class 'eleven'"),
        ("/interpolate", {"start": 3, "end": 3}, "end", "names the same class as start; leave end out"),
        (
            "/interpolate",
            {"model": "fashion-mnist", "start": "bag", "end": 8},
            "end",
            "names the same class as start",
        ),
        # Every integer is strict, as labels always were: not "5", 5.0 or true.
        ("/generate", {"label": 1, "seed": "5"}, "seed", "Input should be a valid integer"),
        ("/generate", {"label": 1, "seed": 5.0}, "seed", "Input should be a valid integer"),
        ("/generate", {"label": 1, "seed": True}, "seed", "Input should be a valid integer"),
        ("/generate", {"label": 1, "count": "2"}, "count", "Input should be a valid integer"),
        ("/interpolate", {"start": 1, "steps": 4.0}, "steps", "Input should be a valid integer"),
        ("/gen_images", {"value": 1, "grid": "true", "grid_size": 2}, "grid", "Input should be a valid boolean"),
        ("/gen_images", {"value": 9, "grid": True}, "grid_size", "must be 1-16 when grid is true"),
        (
            "/generate",
            {"label": 1, "count": 256, "scale": 8},
            "body",
            "asks for 12,845,056 pixels (256 images of 224x224); one request may ask for at most 4,194,304: "
            "lower count or scale",
        ),
        (
            "/interpolate",
            {"start": 1, "end": 2, "steps": 64, "count": 16, "scale": 8},
            "body",
            "asks for 101,154,816 pixels (16 images of 224x224 in each of 126 frames); one request may ask "
            "for at most 4,194,304: lower steps, count or scale",
        ),
    ],
)
def test_bad_input_is_a_422_that_says_what_is_allowed(client, path, body, field, message):
    response = client.post(path, json=body)
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert any(error["loc"][-1] == field and message in error["msg"] for error in errors), errors


@pytest.mark.parametrize(
    ("path", "field", "body"),
    [
        ("/generate", "seed", '{"label": 7, "seed": NaN}'),
        ("/generate", "count", '{"label": 7, "count": Infinity}'),
        ("/generate", "scale", '{"label": 7, "scale": -Infinity}'),
        ("/generate", "label", '{"label": NaN}'),
        ("/gen_images", "value", '{"value": Infinity}'),
        ("/gen_images", "grid_size", '{"value": 1, "grid": true, "grid_size": NaN}'),
        ("/interpolate", "steps", '{"start": 1, "steps": NaN}'),
        ("/interpolate", "frame_ms", '{"start": 1, "frame_ms": Infinity}'),
        ("/interpolate", "end", '{"start": 1, "end": -Infinity}'),
    ],
)
def test_nan_and_infinity_are_a_422_and_the_connection_stays_open(client, path, field, body):
    connection = http.client.HTTPConnection(client.base_url.host, client.base_url.port, timeout=30)
    try:
        connection.request("POST", path, body, {"content-type": "application/json"})
        response = connection.getresponse()
        errors = json.loads(response.read())["detail"]
        assert response.status == 422, errors
        assert [error["loc"] for error in errors] == [["body", field]]
        assert errors[0]["input"] in ("NaN", "Infinity", "-Infinity")
        socket_before = connection.sock
        connection.request("GET", "/health")  # the same keep-alive connection still answers
        assert connection.getresponse().status == 200 and connection.sock is socket_before
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"format": "json"}, 200),  # 37 frames x 16 images of 84x84: just under MAX_PIXELS
        ({"format": "gif", "bounce": False}, 200),
        ({"format": "gif"}, 422),  # bouncing back plays 35 of the frames twice
    ],
)
def test_the_pixels_of_every_frame_count_against_the_cap(client, body, status):
    body = {"start": 1, "end": 2, "steps": 37, "count": 16, "scale": 3, "seed": 1, **body}
    assert 37 * 16 * 84 * 84 <= MAX_PIXELS < (2 * 37 - 2) * 16 * 84 * 84
    response = client.post("/interpolate", json=body)
    assert response.status_code == status, response.text


def test_a_body_that_is_not_json_is_a_422(client):
    response = client.post("/generate", content=b"{label: 1", headers={"content-type": "application/json"})
    assert response.status_code == 422


def test_a_body_over_the_cap_is_refused_with_413(client):
    body = b'{"label": "' + b"x" * MAX_BODY_BYTES + b'"}'
    assert (
        client.post("/generate", content=body, headers={"content-type": "application/json"}).status_code
        == 413
    )

    def chunks():  # no Content-Length: the server has to count as the body arrives
        yield b'{"label": "'
        for _ in range(MAX_BODY_BYTES // 1024 + 1):
            yield b"x" * 1024
        yield b'"}'

    response = client.post("/generate", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_the_page_and_its_files_are_served_with_nothing_from_elsewhere(client):
    page = client.get("/")
    assert page.status_code == 200 and "<title>cgan" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for asset in ("/web/app.js", "/web/style.css"):
        assert client.get(asset).status_code == 200
    for text in (page.text, client.get("/web/app.js").text, client.get("/web/style.css").text):
        assert "http://" not in text and "https://" not in text  # works offline: no CDN


SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def test_every_answer_carries_the_security_headers(client):
    answers = [
        client.get("/health"),
        client.get("/"),
        client.get("/web/app.js"),
        client.get("/openapi.json"),
        client.get("/no-such-page"),
        client.post("/generate", json={"label": 1, "seed": 2}),
        client.post("/generate", json={"label": 99}),
        client.post("/generate", content=b"x" * (MAX_BODY_BYTES + 1)),
        client.get("/health", headers={"host": "evil.example"}),
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 404, 200, 422, 413, 400]
    for answer in answers:
        assert SECURITY_HEADERS.items() <= answer.headers.items(), (answer.url, answer.headers)
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answers[1].headers.get_list("content-security-policy") == [
        answers[1].headers["content-security-policy"]
    ]  # the page keeps its one policy
    assert "default-src 'self'" in answers[1].headers["content-security-policy"]


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST:8000", "127.0.0.1:1", "[::1]", "[::1]:65535"])
def test_loopback_host_names_are_answered_on_any_port(client, host):
    assert client.get("/health", headers={"host": host}).status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example", "[::2]", ""])
def test_a_foreign_host_header_is_refused_with_400(client, host):
    response = client.get("/health", headers={"host": host})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("this server answers to the host names localhost, 127.0.0.1")
    assert "--allowed-hosts" in response.json()["detail"]


def test_allowed_hosts_can_be_named_or_any():
    with running(create_app(["mnist"], allowed_hosts=["cgan.example.org"])) as url:
        assert httpx.get(f"{url}/health", headers={"host": "cgan.example.org:443"}).status_code == 200
        assert httpx.get(f"{url}/health").status_code == 400  # 127.0.0.1 is not on the list
    with running(create_app(["mnist"], allowed_hosts=default_allowed_hosts("0.0.0.0"))) as url:
        assert httpx.get(f"{url}/health", headers={"host": "anything.example"}).status_code == 200


# --- the bounded pool that keeps a flood of requests from exhausting memory ----------------------


def test_pool_runs_work_off_the_event_loop_and_refuses_beyond_its_queue():
    release = threading.Event()

    def work():
        release.wait(10)
        return threading.current_thread().name

    async def flood():
        pool = GenerationPool(workers=1, max_waiting=1)
        running_, waiting = asyncio.ensure_future(pool.run(work)), asyncio.ensure_future(pool.run(work))
        await asyncio.sleep(0.05)
        with pytest.raises(HTTPException) as refused:
            await pool.run(work)
        assert refused.value.status_code == 503 and refused.value.headers == {"Retry-After": "1"}
        release.set()
        names = await asyncio.gather(running_, waiting)
        return names, pool.admitted

    names, admitted = asyncio.run(flood())
    assert all(name.startswith("cgan-generate") for name in names)
    assert admitted == 0


def test_pool_counts_running_work_until_it_ends_even_when_its_caller_gives_up():
    release = threading.Event()

    async def give_up():
        pool = GenerationPool(workers=1, max_waiting=1)
        running_ = asyncio.ensure_future(pool.run(lambda: release.wait(10)))
        waiting = asyncio.ensure_future(pool.run(lambda: release.wait(10)))
        await asyncio.sleep(0.05)
        running_.cancel()
        waiting.cancel()  # not started: dropped from the queue at once
        await asyncio.sleep(0.05)
        still_running = pool.admitted
        release.set()
        await asyncio.sleep(0.05)
        return still_running, pool.admitted

    assert asyncio.run(give_up()) == (1, 0)


def test_a_flood_beyond_the_queue_is_refused_with_503_not_queued():
    async def flood(url: str) -> list[httpx.Response]:
        body = {"label": 8, "count": 256, "scale": 4}  # the heaviest request MAX_PIXELS allows
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            return await asyncio.gather(*(http.post("/generate", json=body) for _ in range(12)))

    with running(create_app(["mnist"], workers=1, max_waiting=2)) as url:
        responses = asyncio.run(flood(url))
        in_hand = httpx.get(f"{url}/health").json()["requests_in_hand"]
    statuses = sorted(response.status_code for response in responses)
    assert set(statuses) == {200, 503} and statuses.count(200) >= 3, statuses
    refused = next(response for response in responses if response.status_code == 503)
    assert refused.headers["retry-after"] == "1" and "server busy" in refused.json()["detail"]
    assert in_hand == 0


def test_requests_drawn_together_get_the_images_they_would_get_alone():
    bodies = [
        {"model": model, "label": (3 * i) % 10, "count": 1 + i % 5, "seed": 1000 + i}
        for i in range(24)
        for model in ("mnist", "fashion-mnist")
    ]

    async def together(url: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            return await asyncio.gather(*(http.post("/generate", json=body) for body in bodies))

    with running(create_app(max_waiting=len(bodies))) as url:
        responses = asyncio.run(together(url))
    generators = {name: load_generator(name) for name in ("mnist", "fashion-mnist")}
    for body, response in zip(bodies, responses, strict=True):
        images = generators[body["model"]].generate([body["label"]] * body["count"], seed=body["seed"])
        assert response.content == png_bytes(make_grid(images, math.ceil(math.sqrt(body["count"])))), body


def test_while_the_pool_is_full_a_post_is_refused_before_its_body_is_read():
    heavy = {"start": 1, "end": 2, "steps": 37, "count": 16, "scale": 3, "format": "json"}

    async def fill(url: str) -> list[int]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            in_hand = asyncio.gather(*(http.post("/interpolate", json=heavy) for _ in range(2)))
            while (await http.get("/health")).json()["requests_in_hand"] < 2:
                await asyncio.sleep(0.005)
            # Not even JSON: refused for want of room before its body is parsed.
            connection = http.stream("POST", "/generate", content=b"{not json")
            async with connection as refused:
                assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
                assert "server busy: 2 requests in hand" in (await refused.aread()).decode()
            return [response.status_code for response in await in_hand]

    with running(create_app(["mnist"], workers=1, max_waiting=1)) as url:
        assert asyncio.run(fill(url)) == [200, 200]
        assert httpx.post(f"{url}/generate", content=b"{not json").status_code == 422  # room again


# --- start-up: models load once, and a broken one stops the server from starting -----------------


def serve_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["serve", *argv])


def test_serve_defaults():
    args = serve_args()
    assert (args.models, args.host, args.port, args.allowed_hosts) == ([], "127.0.0.1", 8000, None)
    args = serve_args("runs/mnist", "runs/fashion", "--host", "0.0.0.0", "--port", "8080")
    assert (args.models, args.host, args.port) == (["runs/mnist", "runs/fashion"], "0.0.0.0", 8080)
    assert serve_args("--allowed-hosts", "a.example, 10.0.0.5").allowed_hosts == ["a.example", "10.0.0.5"]
    for wrong in (["--port", "70000"], ["--allowed-hosts", " , "]):
        with pytest.raises(SystemExit):
            serve_args(*wrong)


def test_a_port_in_use_or_an_unknown_host_is_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = serve_args("--port", str(port))
        with pytest.raises(CganError, match=f"^cannot listen on 127.0.0.1:{port}: Address already in use$"):
            args.handler(args)
    args = serve_args("--host", "no-such-host.invalid")
    with pytest.raises(CganError, match="^cannot listen on no-such-host.invalid: "):
        args.handler(args)


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1", ["localhost", "127.0.0.1", "[::1]"]),
        ("localhost", ["localhost", "127.0.0.1", "[::1]"]),
        ("::1", ["localhost", "127.0.0.1", "[::1]"]),
        ("0.0.0.0", ["*"]),
        ("192.168.1.5", ["*"]),
    ],
)
def test_allowed_hosts_default_to_loopback_names_for_a_loopback_bind(host, allowed):
    assert default_allowed_hosts(host) == allowed


@pytest.mark.parametrize(
    ("damage", "reason"), [("model.json", "is not valid JSON"), ("weights", "it may be truncated")]
)
def test_a_broken_model_folder_stops_start_up_with_its_reason(tmp_path, monkeypatch, damage, reason):
    run = tmp_path / "mnist-run"
    shutil.copytree(BUNDLED_DIR / "mnist", run)
    if damage == "model.json":
        (run / "model.json").write_text("{not json")
    else:
        (run / "generator.safetensors").write_bytes((run / "generator.safetensors").read_bytes()[:1000])
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: pytest.fail("the server started with a broken model"))
    args = serve_args(str(run), "--port", "0")
    with pytest.raises(CganError, match=re.escape(f"cannot serve {run}: ")) as failure:
        args.handler(args)
    assert reason in str(failure.value)


def test_a_model_named_beyond_latin_1_is_served_and_named_percent_encoded(tmp_path):
    run = tmp_path / "mes фото"  # a run folder named as its user likes: the model's name
    shutil.copytree(BUNDLED_DIR / "mnist", run)
    with running(create_app([str(run)])) as url, httpx.Client(base_url=url, timeout=60) as client:
        assert [model["name"] for model in client.get("/models").json()] == ["mes фото"]
        for path, body in (("/generate", {"label": 3}), ("/interpolate", {"start": 3, "steps": 2})):
            response = post(client, path, **body)
            assert response.headers["x-model"] == "mes%20%D1%84%D0%BE%D1%82%D0%BE"  # a header is Latin-1
            assert unquote(response.headers["x-model"]) == "mes фото"


def test_two_models_with_one_name_stop_start_up():
    with pytest.raises(CganError, match="two models would be called 'mnist'"):
        create_app(["mnist", "mnist"])
