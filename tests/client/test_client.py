"""mmserve.client against a real app (fake weights), through WSGI: every resource."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest
from PIL import Image

from mmserve.client import (
    BadRequestError,
    NotFoundError,
    UnprocessableEntityError,
    image_item,
    types,
)


def png(width=6, height=4, colour="red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


def wav(seconds=1.0, rate=16_000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.zeros(int(seconds * rate), dtype=np.int16).tobytes())
    return out.getvalue()


def test_models_health_and_readiness(client):
    models = client.models.list()
    assert [m.id for m in models] == ["fake", "captioner", "ocr", "speech", "grounded"]
    assert isinstance(models[0], types.ModelCard) and models[0].batching.max_wait_ms == 1
    assert models[-1].batching is None and models[-1].capabilities == ["chat"]
    assert client.models.get("speech").capabilities == ["transcribe"]
    assert client.health().status == "ok"
    ready = client.ready()
    assert ready.ready is True and set(ready.models) == {"fake", "captioner", "ocr", "speech"}


def test_collections_items_and_every_search_mode(client):
    created = client.collections.create("notes", "fake")
    assert (created.name, created.dim) == ("notes", 8)
    refs = client.items.add(
        "notes",
        [{"id": "a", "content": "hi", "metadata": {"n": 1}}, {"id": "b", "content": "hello there"}],
    )
    assert [(r.id, r.modality) for r in refs] == [("a", "text"), ("b", "text")]
    assert [c.name for c in client.collections.list()] == ["notes"]
    page = client.items.list("notes", limit=1)
    assert [i.id for i in page.data] == ["a"] and page.next_cursor
    item = client.items.get("notes", "a", include_vector=True)
    assert item.metadata == {"n": 1} and len(item.vector) == 8

    by_text = client.search("notes", text="hi", top_k=2)
    assert isinstance(by_text[0], types.SearchHit) and len(by_text) == 2
    by_item = client.search("notes", item_id="a", top_k=5)
    assert [h.id for h in by_item] == ["b"]  # itself left out
    by_vector = client.search("notes", vector=[1.0] * 8, filter={"n": 1})
    assert [h.id for h in by_vector] == ["a"]
    by_keyword = client.search("notes", text="there", mode="keyword")
    assert [h.id for h in by_keyword] == ["b"]
    weights = {"vector": 0, "keyword": 1}
    assert client.search("notes", text="there", mode="hybrid", weights=weights)[0].id == "b"
    with pytest.raises(ValueError, match="exactly one"):
        client.search("notes", text="x", item_id="a")

    client.items.delete("notes", "b")
    assert client.collections.get("notes").item_count == 1
    client.collections.delete("notes")
    with pytest.raises(NotFoundError) as missing:
        client.collections.get("notes")
    assert missing.value.status_code == 404 and missing.value.request_id
    assert missing.value.code == "not_found" and "notes" in missing.value.message


def test_label_sets_and_classifications(client):
    label_set = client.label_sets.create("sizes", ["a", "a much longer label"], model="fake")
    assert label_set.labels == ["a", "a much longer label"] and label_set.dimensions == 8
    assert [s.name for s in client.label_sets.list()] == ["sizes"]
    result = client.classify(text="a much longer text", label_set="sizes")
    assert isinstance(result, types.Classification)
    assert result.label_set == "sizes" and {s.label for s in result.data} == set(label_set.labels)
    client.label_sets.delete("sizes")
    with pytest.raises(NotFoundError):
        client.label_sets.get("sizes")


def test_images_from_a_path_bytes_pil_and_numpy(client, tmp_path):
    path = tmp_path / "p.png"
    path.write_bytes(png(6, 4))
    for image in (path, png(6, 4), Image.new("RGB", (6, 4)), np.zeros((4, 6, 3), np.uint8)):
        assert client.images.caption(image, model="captioner").caption == "an image 6 by 4"
    read = client.images.ocr(png(10, 3), model="ocr")
    assert read.text == "10x3" and read.lines[0].box == [[0, 0], [10, 0], [10, 3], [0, 3]]
    with pytest.raises(TypeError, match="pathlib.Path"):
        client.images.caption(12)
    with pytest.raises(BadRequestError) as bad:
        client.images.caption(b"not an image", model="captioner")
    assert bad.value.param == "image"


def test_transcription_whole_and_streamed_from_bytes_and_numpy(client):
    whole = client.audio.transcribe(wav(2.0), model="speech")
    assert whole.text == "first half of 2.0 second half"
    assert [(s.start, s.end) for s in whole.segments] == [(0.0, 1.0), (1.0, 2.0)]
    events = list(client.audio.stream_transcription(np.zeros(16_000), model="speech"))
    assert [e.type for e in events] == ["transcript.text.delta"] * 2 + ["transcript.text.done"]
    assert events[0].segment.text == "first half of 1.0"
    assert events[-1].text == "first half of 1.0 second half"
    with pytest.raises(BadRequestError):
        list(client.audio.stream_transcription(b"noise", model="speech"))


def test_jobs_wait_reports_progress(client):
    seen = []
    job = client.jobs.create("index", {"path": "notes", "collection": "notes"})
    done = client.jobs.wait(job.id, poll_s=0.01, on_progress=seen.append, timeout_s=30)
    assert done.state == "succeeded" and done.result["indexed"] == 5
    assert seen[-1] == done and all(isinstance(j, types.Job) for j in seen)
    assert [j.id for j in client.jobs.list(type="index")] == [job.id]
    assert client.search("notes", text="note number 3", top_k=1)[0].modality == "text"
    with pytest.raises(NotFoundError):
        client.jobs.get("nope")


def test_image_items_and_the_fusion_registry_errors(client):
    client.collections.create("pics", "fake")
    with pytest.raises(BadRequestError) as no_image_model:
        client.items.add("pics", [image_item(png())])
    assert "image" in no_image_model.value.message
    assert client.fusion_models.list() == []
    with pytest.raises(NotFoundError):
        client.fusion_models.get("memes")
    with pytest.raises(BadRequestError) as no_model:
        client.predict(text="hello")
    assert no_model.value.code == "no_default_model"
    with pytest.raises(NotFoundError) as named:
        client.predict(model="fusion/memes", text="hello", image=png())
    assert named.value.param == "model"


def test_async_client_waits_and_searches(async_client):
    import asyncio

    async def run():
        async with async_client as mm:
            job = await mm.jobs.create("index", {"path": "notes", "collection": "notes"})
            done = await mm.jobs.wait(job.id, poll_s=0.01, timeout_s=30)
            hits = await mm.search("notes", text="note", top_k=2)
            events = [e async for e in mm.audio.stream_transcription(wav(1.0), model="speech")]
            return done, hits, events

    done, hits, events = asyncio.run(run())
    assert done.state == "succeeded" and len(hits) == 2
    assert events[-1].type == "transcript.text.done"


def test_rerank_usage_and_the_aligned_registry(client):
    documents = ["note number 1", {"text": "a longer note, number 3"}]
    ranked = client.rerank("note number 3", documents, model="fake")
    assert isinstance(ranked, types.Rerank) and ranked.model == "fake"
    assert sorted(r.index for r in ranked.results) == [0, 1]
    scores = [r.relevance_score for r in ranked.results]
    assert scores == sorted(scores, reverse=True)
    # a cosine even though the fake model's vectors are not unit length
    assert all(-1.000001 <= s <= 1.000001 for s in scores)
    (best,) = client.rerank(
        "note number 3", documents, model="fake", top_n=1, return_documents=True
    ).results
    assert best.index == ranked.results[0].index
    assert best.document == {"text": ["note number 1", "a longer note, number 3"][best.index]}
    with pytest.raises(UnprocessableEntityError) as empty:
        client.rerank("q", [], model="fake")
    assert empty.value.param == "documents"
    usage = client.usage(period="month")
    assert usage["object"] == "usage" and usage["period"] == "month"
    with pytest.raises(BadRequestError) as bad_period:
        client.usage(period="week")
    assert bad_period.value.param == "period"
    assert client.aligned_models.list() == []
    with pytest.raises(NotFoundError):
        client.aligned_models.get("pairs")
    with pytest.raises(NotFoundError):
        client.aligned_models.delete("pairs")
