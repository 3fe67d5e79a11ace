"""The researcher: build a snapshot with filters, download its files, read the manifest; the quality page."""

from __future__ import annotations

import hashlib
import json

import pytest
from playwright.sync_api import expect

from annotation.models import Judgment
from curation.models import DatasetSnapshot, SnapshotStatus
from curation.services.quality import quality_recompute
from tests.browser import screenshot, sign_in
from tests.curation.judging import judged_project
from tests.journeys.checks import assert_accessible
from tests.journeys.people import renamed

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def download(page, link) -> bytes:
    with page.expect_download() as info:
        link.click()
    return open(info.value.path(), "rb").read()


def test_researcher_builds_a_filtered_snapshot_downloads_it_and_reads_the_manifest(page, journey):
    project, annotators, researcher = judged_project("pairwise", items=6, annotators=2)
    kept = renamed(annotators[0], "annie")
    renamed(researcher, "rhea")
    sign_in(page, journey, researcher)
    page.get_by_role("link", name=project.name).first.click()
    page.get_by_role("link", name="Dataset snapshots").click()
    page.get_by_role("link", name="New snapshot").click()

    page.get_by_label("Name", exact=True).fill("first annotator, JSONL")
    page.get_by_label(f"{kept.username} (annotator)").check()
    page.get_by_label("Include ties as pairs (margin 0, tie=true)").check()
    page.get_by_label("File format").select_option("jsonl")
    assert_accessible(page)
    screenshot(page, "snapshot-create")
    page.get_by_role("button", name="Create snapshot").click()

    # The page polls the build's status until it has succeeded (the journey's default worker builds it).
    expect(page.locator(".snapshot-status .badge")).to_have_text("Succeeded", timeout=120_000)
    page.reload()  # the files table is rendered once the build has finished
    snapshot = DatasetSnapshot.objects.get()
    assert snapshot.status == SnapshotStatus.SUCCEEDED
    kept_judgments = Judgment.objects.filter(annotator=kept).count()
    expect(page.locator(".snapshot-status")).to_contain_text(f"{kept_judgments} judgments")

    files = page.locator("table.files")
    manifest = json.loads(download(page, files.get_by_role("link", name="manifest.json")))
    assert manifest["filters"]["annotator_ids"] == [kept.pk]
    assert manifest["options"]["file_format"] == "jsonl"
    assert {f["format"] for f in manifest["files"]} == {"jsonl"}
    # Every file downloads with the bytes and row count the manifest promises.
    for entry in manifest["files"]:
        body = download(page, files.get_by_role("link", name=entry["name"], exact=True))
        assert hashlib.sha256(body).hexdigest() == entry["sha256"], entry["name"]
        assert len(body.splitlines()) == entry["rows"]
    raw = next(f for f in manifest["files"] if f["table"] == "raw")
    assert raw["rows"] == kept_judgments
    # The manifest is also shown on the page, as the same JSON.
    shown = json.loads(page.locator("pre.manifest").inner_text())
    assert shown["files"] == manifest["files"]
    assert_accessible(page)
    screenshot(page, "snapshot")

    # The quality dashboard of the same project.
    quality_recompute(project_id=project.pk)
    page.goto(f"{journey.url}/projects/{project.pk}/")
    page.get_by_role("link", name="Quality dashboard").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Quality")
    page.wait_for_function("() => window.Chart && window.Chart.getChart(document.getElementById('chart-per-day'))")
    assert_accessible(page)
    screenshot(page, "quality-dashboard")
