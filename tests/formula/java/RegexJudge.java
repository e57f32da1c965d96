// Judges each pattern against each text with java.util.regex, as Salesforce's REGEX() does: Pattern.matches.
// Input lines: "P <hex code points>" or "T <hex code points>" (space separated; an empty list is the empty string).
// Output: one line per pattern, in order: "E <message>" when Java refuses the pattern, else one 0/1/X per text.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

public class RegexJudge {
    static String decode(String line) {
        StringBuilder out = new StringBuilder();
        for (String hex : line.substring(1).trim().split(" ")) {
            if (!hex.isEmpty()) out.appendCodePoint(Integer.parseInt(hex, 16));
        }
        return out.toString();
    }

    // 'X' when the JDK itself fails while matching (a RuntimeException or a stack overflow on deep backtracking)
    static char judge(Pattern pattern, String text) {
        try {
            return pattern.matcher(text).matches() ? '1' : '0';
        } catch (RuntimeException | StackOverflowError e) {
            return 'X';
        }
    }

    public static void main(String[] args) throws Exception {
        List<String> patterns = new ArrayList<>();
        List<String> texts = new ArrayList<>();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = in.readLine()) != null; ) {
            if (line.startsWith("P")) patterns.add(decode(line));
            else if (line.startsWith("T")) texts.add(decode(line));
        }
        StringBuilder out = new StringBuilder();
        for (String source : patterns) {
            Pattern pattern;
            try {
                pattern = Pattern.compile(source);
            } catch (PatternSyntaxException e) {
                out.append("E ").append(e.getDescription().replace('\n', ' ')).append('\n');
                continue;
            }
            for (String text : texts) out.append(judge(pattern, text));
            out.append('\n');
        }
        System.out.print(out);
    }
}
