"""The processor's progress as the sink sees it: snapshots of its source topics, passes, and a real group."""

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bridge.sink.upstream import UpstreamProbe, Watermarks
from tests.conftest import NewTopicFactory

TP0, TP1 = TopicPartition("domain.x", 0), TopicPartition("domain.x", 1)


def test_a_generation_passes_once_the_group_committed_past_its_snapshot_on_every_partition() -> None:
    marks = Watermarks()
    assert marks.next_generation == 1
    assert marks.snapshot({TP0: 10, TP1: 5}) == 1
    assert marks.snapshot({TP0: 12, TP1: 5}) == 2
    assert marks.next_generation == 3
    assert marks.advance({TP0: 10}) is None  # TP1 not committed at all
    assert marks.advance({TP0: 11, TP1: 5}) == 1
    assert marks.advance({TP0: 11, TP1: 5}) is None  # nothing new
    assert marks.advance({TP0: 12, TP1: 7}) == 2
    assert marks.passed == 2


def test_empty_partitions_never_hold_a_generation_back() -> None:
    marks = Watermarks()
    marks.snapshot({TP0: 0, TP1: 3})
    assert marks.advance({TP1: 3}) == 1


def test_with_nothing_upstream_every_generation_handed_out_passes() -> None:
    marks = Watermarks()
    marks.snapshot({TP0: 99})
    given = marks.next_generation  # a record read now
    assert marks.pass_all() >= given
    assert marks.advance({}) is None


def test_old_snapshots_are_dropped_safely() -> None:
    marks = Watermarks()
    for n in range(100):
        marks.snapshot({TP0: n})
    assert marks.advance({TP0: 99}) == 100  # the newest passes, and with it every older generation


async def test_the_probe_reads_a_real_groups_progress(kafka_bootstrap: str, new_topic: NewTopicFactory) -> None:
    topic = await new_topic("domain", partitions=2)
    group = f"processor-{topic}"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for n in range(6):
            await producer.send_and_wait(topic, b"v", key=str(n).encode())
    finally:
        await producer.stop()
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    offsets = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False)
    await admin.start()
    await offsets.start()
    try:
        probe = UpstreamProbe(admin, offsets, group_id=group, topics=[topic, "no.such.topic"])
        ends = await probe.ends()
        assert ends is not None
        assert sum(ends.values()) == 6
        assert await probe.committed() is None  # no such group: nothing upstream to wait for
        marks = Watermarks()
        marks.snapshot(ends)
        # The processor's group commits what it has processed (here: everything).
        committer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False)
        await committer.start()
        try:
            committer.assign(list(ends))
            await committer.commit(ends)
        finally:
            await committer.stop()
        committed = await probe.committed()
        assert committed is not None
        assert marks.advance(committed) == 1
        assert await probe.end_offsets([TopicPartition(topic, 0)]) == {
            TopicPartition(topic, 0): ends[TopicPartition(topic, 0)]
        }
    finally:
        await offsets.stop()
        await admin.close()


async def test_a_group_that_joined_but_committed_nothing_holds_everything(
    kafka_bootstrap: str, new_topic: NewTopicFactory
) -> None:
    topic = await new_topic("domain", partitions=1)
    group = f"processor-{topic}"
    member = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False)
    member.subscribe([topic])
    await member.start()
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    offsets = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False)
    await admin.start()
    await offsets.start()
    try:
        await member.getmany(timeout_ms=3_000)  # joins the group
        probe = UpstreamProbe(admin, offsets, group_id=group, topics=[topic])
        assert await probe.committed() == {}  # starting: its backlog is still to come
    finally:
        await member.stop()
        await offsets.stop()
        await admin.close()
