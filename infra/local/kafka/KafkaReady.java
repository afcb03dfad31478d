// Readiness probe for the local broker: succeeds once a metadata request (describeCluster + listTopics)
// answers with at least one broker. Retries until the deadline.
// Usage: java -cp '<libs>/*' KafkaReady <bootstrap> <timeoutSeconds>
import java.util.Collection;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.common.Node;

public class KafkaReady {
  public static void main(String[] args) throws Exception {
    String bootstrap = args.length > 0 ? args[0] : "127.0.0.1:9092";
    long timeoutMs = (args.length > 1 ? Long.parseLong(args[1]) : 60) * 1000L;
    long deadline = System.currentTimeMillis() + timeoutMs;
    Properties props = new Properties();
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "3000");
    props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "5000");
    props.put(AdminClientConfig.RECONNECT_BACKOFF_MS_CONFIG, "100");
    props.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "500");
    props.put(AdminClientConfig.CLIENT_ID_CONFIG, "maniac-infra-ready");
    String lastError = "no attempt";
    try (Admin admin = Admin.create(props)) {
      while (System.currentTimeMillis() < deadline) {
        try {
          DescribeClusterResult cluster = admin.describeCluster();
          Collection<Node> nodes = cluster.nodes().get(5, TimeUnit.SECONDS);
          String clusterId = cluster.clusterId().get(5, TimeUnit.SECONDS);
          int topics = admin.listTopics().names().get(5, TimeUnit.SECONDS).size();
          if (!nodes.isEmpty()) {
            System.out.println("ready: cluster " + clusterId + ", " + nodes.size() + " broker(s), " + topics + " topic(s)");
            return;
          }
          lastError = "no brokers in metadata";
        } catch (Exception e) {
          Throwable cause = e.getCause() != null ? e.getCause() : e;
          lastError = cause.getClass().getSimpleName() + ": " + cause.getMessage();
        }
        Thread.sleep(250);
      }
    }
    System.err.println("not ready after " + (timeoutMs / 1000) + "s: " + lastError);
    System.exit(1);
  }
}
