#!/usr/bin/env bash
# Start a single-node Apache Kafka broker (KRaft: broker + controller in one JVM, no ZooKeeper) on
# 127.0.0.1 from Maven Central jars, for the desk hub (quant-terminal hub) and its tests.
# Needs Java 17+ and Maven (Debian: openjdk-17-jdk-headless maven).
#   KAFKA_VERSION   default 4.1.1
#   KAFKA_HOME      work dir (default ${TMPDIR:-/tmp}/qt-infra/kafka): jars, config, data, server.log
#   KAFKA_PORT      client port (default 19092); the controller listens on KAFKA_PORT+1
#   KAFKA_HEAP      JVM heap (default 512m)
#   KAFKA_RETENTION_HOURS  how long events stay on the topics (default 168 = 7 days)
#   KAFKA_FRESH=1   wipe the data first; by default a restart keeps every topic and offset
# Prints KAFKA_PID=<pid> and KAFKA_BOOTSTRAP=127.0.0.1:<port> once the broker accepts clients;
# exits non-zero with the broker's log otherwise. Stop: kill "$(cat "$KAFKA_HOME/kafka.pid")"
set -euo pipefail
KAFKA_VERSION=${KAFKA_VERSION:-4.1.1}
KAFKA_HOME=${KAFKA_HOME:-${TMPDIR:-/tmp}/qt-infra/kafka}
KAFKA_PORT=${KAFKA_PORT:-19092}
CTRL_PORT=$((KAFKA_PORT + 1))
KAFKA_HEAP=${KAFKA_HEAP:-512m}
RETENTION=${KAFKA_RETENTION_HOURS:-168}
mkdir -p "$KAFKA_HOME"
cd "$KAFKA_HOME"

if [ -f kafka.pid ] && kill -0 "$(cat kafka.pid)" 2>/dev/null; then
  echo "a broker already runs from $KAFKA_HOME (pid $(cat kafka.pid)); stop it first" >&2; exit 1
fi

# The jars: Kafka 4.x logs through slf4j 2 + log4j2 (without the pins Maven picks slf4j-api 1.7 and the
# broker logs nothing, so readiness could not be seen).
LIB="$KAFKA_HOME/lib-$KAFKA_VERSION"
if [ ! -f "$LIB/kafka_2.13-$KAFKA_VERSION.jar" ]; then
  cat > pom.xml <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>quant-terminal.infra</groupId><artifactId>kafka-runtime</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>2.0.17</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>2.24.3</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.24.3</version></dependency>
  </dependencies>
</project>
POM
  mvn -q -B -Dstyle.color=never ${MVN_FLAGS:-} dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$LIB"
fi

cat > log4j2.properties <<LOG
status = warn
appender.f.type = File
appender.f.name = F
appender.f.fileName = $KAFKA_HOME/server.log
appender.f.layout.type = PatternLayout
appender.f.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.f.ref = F
LOG

DATA="$KAFKA_HOME/data"
if [ "${KAFKA_FRESH:-0}" = "1" ]; then rm -rf "$DATA"; fi
cat > server.properties <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CTRL_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$CTRL_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA
num.partitions=1
auto.create.topics.enable=false
log.retention.hours=$RETENTION
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS

JAVA_OPTS="-Xms$KAFKA_HEAP -Xmx$KAFKA_HEAP -XX:+UseG1GC -Djava.awt.headless=true -Dlog4j2.configurationFile=$KAFKA_HOME/log4j2.properties"
if [ ! -f "$DATA/meta.properties" ]; then  # first start (or KAFKA_FRESH): format the storage once
  mkdir -p "$DATA"
  # cluster id = 16 random bytes, base64url without padding (what 'StorageTool random-uuid' prints)
  CLUSTER_ID=$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
  # shellcheck disable=SC2086
  java $JAVA_OPTS -cp "$LIB/*" kafka.tools.StorageTool format -t "$CLUSTER_ID" -c server.properties > format.log 2>&1 \
    || { cat format.log; exit 1; }
fi

rm -f server.log stdout.log  # readiness is read from a fresh server.log
# shellcheck disable=SC2086
nohup java $JAVA_OPTS -cp "$LIB/*" kafka.Kafka server.properties > stdout.log 2>&1 &
echo $! > kafka.pid
for _ in $(seq 1 240); do
  if grep -q 'Kafka Server started' server.log 2>/dev/null; then
    echo "KAFKA_PID=$(cat kafka.pid)"; echo "KAFKA_BOOTSTRAP=127.0.0.1:$KAFKA_PORT"; exit 0
  fi
  kill -0 "$(cat kafka.pid)" 2>/dev/null || { echo "the Kafka broker died while starting" >&2; tail -50 stdout.log server.log >&2; exit 1; }
  sleep 0.5
done
echo "the Kafka broker did not start within 120 s" >&2; tail -50 server.log >&2; exit 1
