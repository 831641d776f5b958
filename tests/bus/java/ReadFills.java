// A consumer of the desk bus that is not Python: the Java Kafka client and Jackson read qt.fills and print the
// fields a fill message must carry, one tab-separated line per fill.
// Run: java -cp 'KAFKA_LIBS/*' ReadFills.java BOOTSTRAP TOPIC COUNT
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

public class ReadFills {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.put("bootstrap.servers", args[0]);
        props.put("key.deserializer", StringDeserializer.class.getName());
        props.put("value.deserializer", StringDeserializer.class.getName());
        int wanted = Integer.parseInt(args[2]);
        ObjectMapper json = new ObjectMapper();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props)) {
            TopicPartition partition = new TopicPartition(args[1], 0);
            consumer.assign(List.of(partition));
            consumer.seekToBeginning(List.of(partition));
            int seen = 0;
            long deadline = System.currentTimeMillis() + 20000;
            while (seen < wanted && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, String> record : consumer.poll(Duration.ofMillis(500))) {
                    JsonNode fill = json.readTree(record.value());
                    System.out.println(String.join("\t", fill.get("v").asText(), fill.get("type").asText(),
                        fill.get("client_order_id").asText(), fill.get("exec_id").asText(), fill.get("symbol").asText(),
                        fill.get("side").asText(), fill.get("quantity").asText(), fill.get("price").asText(),
                        fill.get("commission").asText(), fill.get("time").asText()));
                    seen++;
                }
            }
        }
    }
}
