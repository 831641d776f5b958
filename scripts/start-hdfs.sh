#!/usr/bin/env bash
# A real single-node HDFS (NameNode + DataNode, two JVMs) on 127.0.0.1 for the archive's hdfs:// tests
# and for trying an HDFS archive by hand. Only jars from Maven Central; needs Java 17, Maven and curl.
#   HADOOP_VERSION  default 3.4.1
#   HDFS_HOME       work folder (default ${QT_INFRA_HOME:-${TMPDIR:-/tmp}/qt-infra}/hdfs); wiped data each start
#   HDFS_RPC_PORT   NameNode RPC (default 19000): the archive URL is hdfs://127.0.0.1:$HDFS_RPC_PORT/PATH
#   HDFS_HTTP_PORT  NameNode HTTP (default 19870)
#   HDFS_DATANODE_PORT / _HTTP_PORT / _IPC_PORT  DataNode (default 19866 / 19864 / 19867)
# Prints HDFS_NAMENODE_PID=, HDFS_DATANODE_PID=, HDFS_URL= once a DataNode is live and safe mode is off;
# exits 1 with the logs otherwise. Stop: kill "$(cat "$HDFS_HOME/namenode.pid")" "$(cat "$HDFS_HOME/datanode.pid")"
set -euo pipefail
HADOOP_VERSION=${HADOOP_VERSION:-3.4.1}
HDFS_HOME=${HDFS_HOME:-${QT_INFRA_HOME:-${TMPDIR:-/tmp}/qt-infra}/hdfs}
RPC=${HDFS_RPC_PORT:-19000}
HTTP=${HDFS_HTTP_PORT:-19870}
HEAP=${HDFS_HEAP:-512m}
DN_DATA=${HDFS_DATANODE_PORT:-19866}
DN_HTTP=${HDFS_DATANODE_HTTP_PORT:-19864}
DN_IPC=${HDFS_DATANODE_IPC_PORT:-19867}
mkdir -p "$HDFS_HOME"; cd "$HDFS_HOME"

LIB="$HDFS_HOME/lib-$HADOOP_VERSION"
if [ ! -f "$LIB/hadoop-hdfs-$HADOOP_VERSION.jar" ] || [ ! -f "$LIB/hadoop-hdfs-client-$HADOOP_VERSION.jar" ]; then
  mkdir -p "pom-$HADOOP_VERSION"
  # hadoop-hdfs declares hadoop-common and hadoop-hdfs-client as 'provided': name them explicitly.
  cat > "pom-$HADOOP_VERSION/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>ci.infra</groupId><artifactId>hdfs-runtime</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.hadoop</groupId><artifactId>hadoop-hdfs</artifactId><version>$HADOOP_VERSION</version></dependency>
    <dependency><groupId>org.apache.hadoop</groupId><artifactId>hadoop-hdfs-client</artifactId><version>$HADOOP_VERSION</version></dependency>
    <dependency><groupId>org.apache.hadoop</groupId><artifactId>hadoop-common</artifactId><version>$HADOOP_VERSION</version></dependency>
  </dependencies>
</project>
EOF
  (cd "pom-$HADOOP_VERSION" && mvn -q -B -Dstyle.color=never ${MVN_FLAGS:-} dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$LIB")
fi

CONF="$HDFS_HOME/conf"; DATA="$HDFS_HOME/data"; LOGS="$HDFS_HOME/logs"
rm -rf "$DATA" "$HDFS_HOME/tmp"; mkdir -p "$CONF" "$DATA" "$LOGS"
# The Maven jars do not carry the web UI (share/hadoop/hdfs/webapps in the tarball), but HttpServer2
# insists on finding webapps/<name> on the classpath: empty web apps are enough for WebHDFS + /jmx.
for a in hdfs datanode secondary static; do
  mkdir -p "$CONF/webapps/$a/WEB-INF"
  echo '<?xml version="1.0"?><web-app xmlns="http://xmlns.jcp.org/xml/ns/javaee" version="3.1"/>' > "$CONF/webapps/$a/WEB-INF/web.xml"
done
cat > "$CONF/core-site.xml" <<EOF
<?xml version="1.0"?>
<configuration>
  <property><name>fs.defaultFS</name><value>hdfs://127.0.0.1:$RPC</value></property>
  <property><name>hadoop.tmp.dir</name><value>$HDFS_HOME/tmp</value></property>
  <property><name>hadoop.http.staticuser.user</name><value>$(id -un)</value></property>
</configuration>
EOF
cat > "$CONF/hdfs-site.xml" <<EOF
<?xml version="1.0"?>
<configuration>
  <property><name>dfs.replication</name><value>1</value></property>
  <property><name>dfs.namenode.name.dir</name><value>$DATA/name</value></property>
  <property><name>dfs.datanode.data.dir</name><value>$DATA/data</value></property>
  <property><name>dfs.namenode.rpc-address</name><value>127.0.0.1:$RPC</value></property>
  <property><name>dfs.namenode.http-address</name><value>127.0.0.1:$HTTP</value></property>
  <property><name>dfs.namenode.secondary.http-address</name><value>127.0.0.1:0</value></property>
  <property><name>dfs.datanode.address</name><value>127.0.0.1:$DN_DATA</value></property>
  <property><name>dfs.datanode.http.address</name><value>127.0.0.1:$DN_HTTP</value></property>
  <property><name>dfs.datanode.ipc.address</name><value>127.0.0.1:$DN_IPC</value></property>
  <property><name>dfs.datanode.hostname</name><value>127.0.0.1</value></property>
  <property><name>dfs.webhdfs.enabled</name><value>true</value></property>
  <property><name>dfs.permissions.enabled</name><value>false</value></property>
  <property><name>dfs.namenode.safemode.extension</name><value>0</value></property>
  <property><name>dfs.namenode.safemode.min.datanodes</name><value>0</value></property>
  <property><name>dfs.heartbeat.interval</name><value>1</value></property>
</configuration>
EOF
cat > "$CONF/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, F
log4j.appender.F=org.apache.log4j.FileAppender
log4j.appender.F.File=${hadoop.log.file}
log4j.appender.F.layout=org.apache.log4j.PatternLayout
log4j.appender.F.layout.ConversionPattern=%d{ISO8601} %p %c: %m%n
EOF

# Hadoop 3.4 on Java 17: WebHDFS (jersey 1 + JAXB) needs these opens, else HTTP 500 InaccessibleObjectException.
OPENS=""
for p in java.lang java.lang.reflect java.io java.net java.nio java.util java.util.concurrent \
         java.util.concurrent.atomic sun.nio.ch sun.nio.cs sun.security.action sun.util.calendar; do
  OPENS="$OPENS --add-opens=java.base/$p=ALL-UNNAMED"
done
CP="$CONF:$LIB/*"
jopts() { echo "-Xms64m -Xmx$HEAP $OPENS -Djava.net.preferIPv4Stack=true -Dhadoop.log.file=$LOGS/$1.log"; }

# shellcheck disable=SC2046
java $(jopts format) -cp "$CP" org.apache.hadoop.hdfs.server.namenode.NameNode -format -nonInteractive -force \
  > "$LOGS/format.out" 2>&1 || { cat "$LOGS/format.out" "$LOGS/format.log"; exit 1; }
# shellcheck disable=SC2046
nohup java $(jopts namenode) -cp "$CP" org.apache.hadoop.hdfs.server.namenode.NameNode > "$LOGS/namenode.out" 2>&1 &
echo $! > namenode.pid
# shellcheck disable=SC2046
nohup java $(jopts datanode) -cp "$CP" org.apache.hadoop.hdfs.server.datanode.DataNode > "$LOGS/datanode.out" 2>&1 &
echo $! > datanode.pid

for _ in $(seq 1 240); do
  live=$(curl -s "http://127.0.0.1:$HTTP/jmx?qry=Hadoop:service=NameNode,name=FSNamesystemState" \
         | grep -o '"NumLiveDataNodes" : [0-9]*' | grep -o '[0-9]*$' || true)
  safemode=$(curl -s "http://127.0.0.1:$HTTP/jmx?qry=Hadoop:service=NameNode,name=NameNodeInfo" \
         | grep -o '"Safemode" : "[^"]*"' || true)
  if [ "${live:-0}" -ge 1 ] && [ "$safemode" = '"Safemode" : ""' ]; then
    echo "HDFS_NAMENODE_PID=$(cat namenode.pid)"; echo "HDFS_DATANODE_PID=$(cat datanode.pid)"
    echo "HDFS_URL=hdfs://127.0.0.1:$RPC"; echo "WEBHDFS_URL=http://127.0.0.1:$HTTP"; exit 0
  fi
  for p in namenode datanode; do
    kill -0 "$(cat $p.pid)" 2>/dev/null || { echo "$p died"; tail -40 "$LOGS/$p.out" "$LOGS/$p.log"; exit 1; }
  done
  sleep 0.5
done
echo "HDFS did not come up in 120s"; exit 1
