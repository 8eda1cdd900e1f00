// harden test tool: compares "A B" version pairs (one per line on stdin) with Maven's own ComparableVersion.
// Prints -1, 0 or 1 per line. Run: java -cp /usr/share/java/maven3-artifact.jar Tests/Tools/MavenCompare.java
import java.io.BufferedReader;
import java.io.InputStreamReader;
import org.apache.maven.artifact.versioning.ComparableVersion;

public class MavenCompare {
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        StringBuilder out = new StringBuilder();
        String line;
        while ((line = in.readLine()) != null) {
            int space = line.indexOf(' ');
            int r = new ComparableVersion(line.substring(0, space)).compareTo(new ComparableVersion(line.substring(space + 1)));
            out.append(Integer.signum(r)).append('\n');
        }
        System.out.print(out);
    }
}
